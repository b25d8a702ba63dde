// EC2's instance lists, streamed: the first byte picks the piece size, the
// rest is the answer. Streaming in pieces and parsing whole agree.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "providers/aws/ec2_xml.hpp"
#include "providers/aws/instance_stream.hpp"
#include "util/error.hpp"

namespace ec2 = raycluster::detail::ec2;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t piece = 1 + data[0] % 64;
  std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  bool whole_ok = true;
  std::size_t whole_count = 0;
  try {
    whole_count = ec2::parse_instances(body).instances.size();
  } catch (const raycluster::Error&) {
    whole_ok = false;
  }
  ec2::InstanceStream stream;
  bool pieces_ok = true;
  std::size_t pieces_count = 0;
  try {
    for (std::size_t at = 0; at < body.size(); at += piece) stream.feed(body.substr(at, piece));
    pieces_count = stream.finish().instances.size();
  } catch (const raycluster::Error&) {
    pieces_ok = false;
  }
  if (whole_ok != pieces_ok || whole_count != pieces_count) std::abort();
  return 0;
}
