// The hand-made DrainNode messages and gRPC framing against bytes that
// protobuf's own encoder produced (tests/unit/autoscaler/drain_node_reference.py,
// Ray 2.60's generated classes), and grpc_unary against a scripted transport.
#include <doctest/doctest.h>

#include "http/grpc.hpp"
#include "monitor/drain.hpp"
#include "util/error.hpp"

using namespace raycluster;
using namespace raycluster::detail;

namespace {

const std::string kNodeId = "37398f5761e1077399bf0f463b8259cfe5a774c63090c8365ab90e71";

std::string unhex(const std::string& h) {
  std::string out;
  for (std::size_t i = 0; i < h.size(); i += 2) out += static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16));
  return out;
}

std::string hex(const std::string& s) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out += d[c >> 4];
    out += d[c & 15];
  }
  return out;
}

// drain_node_reference.py's output.
const char* kRequestIdle =
    "0a1c37398f5761e1077399bf0f463b8259cfe5a774c63090c8365ab90e7110011a2869646c653a20656e646564206279"
    "2074686520726179636c7573746572206175746f7363616c6572";
const char* kRequestLongTail = "20fbe09bb2ae33";  // after 200 x's: deadline 1764800000123
const char* kRequestLongHead =
    "0a1c37398f5761e1077399bf0f463b8259cfe5a774c63090c8365ab90e7110021ac801";
const char* kReplyRefused =
    "1224546865206e6f6465206973206e6f742069646c653a2072756e6e696e672031207461736b";

struct OneAnswer : HttpTransport {
  HttpRequest seen;
  HttpResponse answer;
  HttpResponse send(const HttpRequest& r, const CancelToken&) override {
    seen = r;
    return answer;
  }
};

}  // namespace

TEST_CASE("drain: the request encodes as protobuf does") {
  CHECK(hex(encode_drain_request(kNodeId, kDrainReasonIdleTermination,
                                 "idle: ended by the raycluster autoscaler", 0)) == kRequestIdle);
  std::string long_ref = kRequestLongHead;
  for (int i = 0; i < 200; ++i) long_ref += "78";
  long_ref += kRequestLongTail;
  CHECK(hex(encode_drain_request(kNodeId, 2, std::string(200, 'x'), 1764800000123)) == long_ref);
  CHECK_THROWS_AS(encode_drain_request("ray-node", 1, "", 0), Error);
  CHECK_THROWS_AS(encode_drain_request("abc", 1, "", 0), Error);
}

TEST_CASE("drain: replies decode as protobuf wrote them") {
  CHECK(decode_drain_reply(unhex("0801")).accepted);
  auto refused = decode_drain_reply(unhex(kReplyRefused));
  CHECK_FALSE(refused.accepted);
  CHECK(refused.rejection == "The node is not idle: running 1 task");
  CHECK_FALSE(decode_drain_reply("").accepted);  // proto3: false is left out
  // An unknown field of every wire type is skipped.
  ProtoWriter w;
  w.varint_field(9, 300);
  w.bytes_field(10, "zz");
  w.varint_field(1, 1);
  CHECK(decode_drain_reply(w.bytes()).accepted);
  // fixed32 (field 7) and fixed64 (field 8) too.
  CHECK(decode_drain_reply(w.bytes() + unhex("3d01020304") + unhex("410102030405060708")).accepted);
}

TEST_CASE("drain: malformed replies are refused with where") {
  CHECK_THROWS_AS(decode_drain_reply(unhex("08")), Error);              // truncated varint
  CHECK_THROWS_AS(decode_drain_reply(unhex("1205616263")), Error);      // runs past the end
  CHECK_THROWS_AS(decode_drain_reply(unhex("0b")), Error);              // group (wire type 3)
  CHECK_THROWS_AS(decode_drain_reply(unhex("08ffffffffffffffffffff01")), Error);  // 11-byte varint
}

TEST_CASE("grpc: frames are flag byte, big-endian length, message") {
  CHECK(hex(grpc_frame(unhex("0801"))) == "00000000020801");
  CHECK(hex(grpc_unframe(unhex("00000000020801"))) == "0801");
  CHECK_THROWS_AS(grpc_unframe(unhex("000000")), Error);
  CHECK_THROWS_AS(grpc_unframe(unhex("00000000030801")), Error);
  CHECK_THROWS_AS(grpc_unframe(unhex("01000000020801")), Error);  // compressed
}

TEST_CASE("grpc: a unary call posts one frame over h2c and reads the trailers") {
  OneAnswer t;
  t.answer.status = 200;
  t.answer.body = unhex("00000000020801");
  t.answer.headers = {{"content-type", "application/grpc"}, {"grpc-status", "0"}};
  auto r = grpc_unary(t, "http://127.0.0.1:6379", kDrainNodeMethod, "req", std::chrono::seconds(3), {});
  CHECK(t.seen.method == "POST");
  CHECK(t.seen.url == "http://127.0.0.1:6379/ray.rpc.autoscaler.AutoscalerStateService/DrainNode");
  CHECK(t.seen.http2_prior_knowledge);
  CHECK(hex(t.seen.body) == "0000000003" + hex("req"));
  CHECK(r.status == 0);
  CHECK(decode_drain_reply(r.body).accepted);

  t.answer.body.clear();
  t.answer.headers = {{"grpc-status", "12"}, {"grpc-message", "Method%20not%20found"}};
  r = grpc_unary(t, "http://h:1", kDrainNodeMethod, "", std::chrono::seconds(3), {});
  CHECK(r.status == 12);
  CHECK(r.message == "Method not found");

  t.answer.status = 503;
  CHECK_THROWS_AS(grpc_unary(t, "http://h:1", kDrainNodeMethod, "", std::chrono::seconds(3), {}), Error);
}
