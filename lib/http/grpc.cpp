#include "http/grpc.hpp"

#include "util/error.hpp"

namespace raycluster::detail {

namespace {

constexpr std::size_t kMaxFields = 10000;

std::uint64_t read_varint(std::string_view m, std::size_t& pos) {
  std::uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (pos >= m.size())
      throw Error(ErrorCode::invalid_argument, "protobuf: truncated varint at byte " + std::to_string(pos));
    auto b = static_cast<unsigned char>(m[pos++]);
    v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) return v;
  }
  throw Error(ErrorCode::invalid_argument, "protobuf: varint longer than 10 bytes at byte " + std::to_string(pos));
}

std::uint64_t read_fixed(std::string_view m, std::size_t& pos, int width) {
  if (m.size() - pos < static_cast<std::size_t>(width))
    throw Error(ErrorCode::invalid_argument, "protobuf: truncated fixed field at byte " + std::to_string(pos));
  std::uint64_t v = 0;
  for (int i = 0; i < width; ++i) v |= static_cast<std::uint64_t>(static_cast<unsigned char>(m[pos + i])) << (8 * i);
  pos += width;
  return v;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex_digit(s[i + 1]) >= 0 && hex_digit(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_digit(s[i + 1]) * 16 + hex_digit(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

}  // namespace

void ProtoWriter::varint(std::uint64_t v) {
  while (v >= 0x80) {
    out_ += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out_ += static_cast<char>(v);
}

void ProtoWriter::varint_field(int number, std::uint64_t value) {
  varint(static_cast<std::uint64_t>(number) << 3);
  varint(value);
}

void ProtoWriter::bytes_field(int number, std::string_view value) {
  varint(static_cast<std::uint64_t>(number) << 3 | 2);
  varint(value.size());
  out_.append(value);
}

std::vector<ProtoField> read_proto_fields(std::string_view m) {
  std::vector<ProtoField> out;
  std::size_t pos = 0;
  while (pos < m.size()) {
    if (out.size() >= kMaxFields)
      throw Error(ErrorCode::invalid_argument, "protobuf: more than " + std::to_string(kMaxFields) + " fields");
    const std::size_t at = pos;
    std::uint64_t key = read_varint(m, pos);
    ProtoField f;
    f.number = static_cast<int>(key >> 3);
    f.wire_type = static_cast<int>(key & 7);
    if (f.number <= 0 || key >> 3 > 536870911)
      throw Error(ErrorCode::invalid_argument, "protobuf: bad field number at byte " + std::to_string(at));
    switch (f.wire_type) {
      case 0: f.varint = read_varint(m, pos); break;
      case 1: f.varint = read_fixed(m, pos, 8); break;
      case 5: f.varint = read_fixed(m, pos, 4); break;
      case 2: {
        std::uint64_t n = read_varint(m, pos);
        if (n > m.size() - pos)
          throw Error(ErrorCode::invalid_argument, "protobuf: field " + std::to_string(f.number) + " at byte " +
                                            std::to_string(at) + " runs past the message");
        f.bytes = m.substr(pos, static_cast<std::size_t>(n));
        pos += static_cast<std::size_t>(n);
        break;
      }
      default:
        throw Error(ErrorCode::invalid_argument, "protobuf: unsupported wire type " + std::to_string(f.wire_type) +
                                          " at byte " + std::to_string(at));
    }
    out.push_back(f);
  }
  return out;
}

std::string grpc_frame(std::string_view message) {
  std::string out(5, '\0');
  auto n = static_cast<std::uint32_t>(message.size());
  for (int i = 0; i < 4; ++i) out[1 + i] = static_cast<char>((n >> (8 * (3 - i))) & 0xff);
  out.append(message);
  return out;
}

std::string grpc_unframe(std::string_view body) {
  if (body.size() < 5) throw Error(ErrorCode::invalid_argument, "gRPC: answer shorter than a frame header");
  if (body[0] != 0) throw Error(ErrorCode::invalid_argument, "gRPC: compressed answers are not read");
  std::uint32_t n = 0;
  for (int i = 0; i < 4; ++i) n = n << 8 | static_cast<unsigned char>(body[1 + i]);
  if (body.size() - 5 != n)
    throw Error(ErrorCode::invalid_argument, "gRPC: frame of " + std::to_string(n) + " bytes in an answer of " +
                                      std::to_string(body.size() - 5));
  return std::string(body.substr(5));
}

GrpcReply grpc_unary(HttpTransport& transport, const std::string& base_url, const std::string& method,
                     std::string_view request, std::chrono::milliseconds timeout,
                     const CancelToken& cancel) {
  HttpRequest req;
  req.method = "POST";
  req.url = base_url + method;
  req.http2_prior_knowledge = true;
  req.headers = {{"content-type", "application/grpc"}, {"te", "trailers"}};
  req.body = grpc_frame(request);
  req.timeout = timeout;
  req.connect_timeout = std::min(timeout, std::chrono::milliseconds(5000));
  HttpResponse resp = transport.send(req, cancel);
  if (resp.status != 200)
    throw Error(ErrorCode::unavailable, "gRPC " + method + ": HTTP status " + std::to_string(resp.status), true);
  GrpcReply r;
  if (auto s = resp.header("grpc-status")) {
    try {
      r.status = std::stoi(*s);
    } catch (const std::exception&) {
      throw Error(ErrorCode::invalid_argument, "gRPC " + method + ": grpc-status '" + *s + "' is not a number");
    }
  }
  if (auto m = resp.header("grpc-message")) r.message = percent_decode(*m);
  if (r.status == 0) r.body = grpc_unframe(resp.body);
  return r;
}

}  // namespace raycluster::detail
