// Internal: one unary gRPC call over HTTP/2 without TLS (h2c, prior
// knowledge), and the few protobuf wire-format pieces its small messages need.
//
// gRPC framing: each message is one byte of flags (0: not compressed), its
// length as 4 bytes big-endian, then the message. The status comes in the
// grpc-status / grpc-message trailers (or headers, for a trailers-only
// answer). Protobuf: fields are (number << 3 | wire type) varint keys
// followed by a varint (wire type 0), 8 bytes (1), a length-delimited
// payload (2) or 4 bytes (5); only these four are read, groups are refused.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "http/http.hpp"

namespace raycluster::detail {

// Builds a protobuf message field by field (in the order written).
class ProtoWriter {
 public:
  void varint_field(int number, std::uint64_t value);
  void bytes_field(int number, std::string_view value);  // also strings and sub-messages
  const std::string& bytes() const { return out_; }

 private:
  void varint(std::uint64_t v);
  std::string out_;
};

// One field of a message read by read_proto_fields().
struct ProtoField {
  int number = 0;
  int wire_type = 0;          // 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32
  std::uint64_t varint = 0;   // wire types 0, 1 and 5
  std::string_view bytes;     // wire type 2 (a view into the message)
};

// The message's fields in order. Throws Error(invalid_argument) on a truncated or
// malformed message (the field's byte offset in the text); at most 10,000 fields.
std::vector<ProtoField> read_proto_fields(std::string_view message);

// `message` with gRPC's 5-byte prefix.
std::string grpc_frame(std::string_view message);
// The one message of a unary answer's body. Throws Error(invalid_argument) when the body
// is not exactly one uncompressed frame.
std::string grpc_unframe(std::string_view body);

struct GrpcReply {
  int status = -1;        // grpc-status (0 OK); -1 when the answer had none
  std::string message;    // grpc-message, percent-decoded
  std::string body;       // the reply message when status is 0
};

// POSTs one request to <base_url>/<method> (method "/pkg.Service/Method")
// over h2c. Transport errors propagate as the transport throws them
// (unavailable, timeout, cancelled); an HTTP status other than 200 becomes
// Error(unavailable) naming it.
GrpcReply grpc_unary(HttpTransport& transport, const std::string& base_url, const std::string& method,
                     std::string_view request, std::chrono::milliseconds timeout,
                     const CancelToken& cancel);

}  // namespace raycluster::detail
