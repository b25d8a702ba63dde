// EC2 Query API answers (XML) -> plain structs.
//
// Most parsers take the body by non-const reference and parse it in place
// (pugixml's insitu mode: no copy of the text, strings point into it while
// parsing), then copy out only the fields the provider uses. Instance lists
// go through InstanceStream (instance_stream.hpp), which parses one instance
// element at a time and never needs the whole answer at once
// (bench/aws/describe-bench).
// Throws Error(invalid_request) when the body is not XML of the expected shape.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace raycluster::detail::ec2 {

struct Instance {
  std::string id;
  std::string state;  // pending, running, shutting-down, terminated, stopping, stopped
  std::string instance_type;
  std::string zone;
  std::string subnet_id;
  std::string private_ip;
  std::string public_ip;
  std::string lifecycle;  // "spot", "scheduled", "capacity-block" or empty (on-demand)
  std::string client_token;
  std::chrono::system_clock::time_point launch_time{};
  std::vector<std::pair<std::string, std::string>> tags;

  // The value of a tag, or nullptr.
  const std::string* tag(std::string_view key) const;
};

struct InstancePage {
  std::vector<Instance> instances;
  std::string next_token;  // empty on the last page
};

// DescribeInstancesResponse (reservationSet) or RunInstancesResponse
// (instancesSet), held whole; the same as feeding it to an InstanceStream.
InstancePage parse_instances(std::string_view body);

// The building blocks of InstanceStream, shared so that there is one field
// extraction. parse_instance_fragment parses one complete instance element
// (`<item>...</item>`) in place and copies its fields out; `doc_offset` is
// where the fragment starts in the answer, for the error message.
Instance parse_instance_fragment(char* data, std::size_t size, std::size_t doc_offset);
// The text of <nextToken> as it appears between the tags: entities decoded,
// surrounding whitespace trimmed.
std::string parse_token_text(std::string_view raw);

struct Subnet {
  std::string id;
  std::string zone;
  std::string vpc_id;
  bool default_for_az = false;
};
std::vector<Subnet> parse_subnets(std::string& body);

struct Permission {
  std::string protocol;  // "-1" (all), "tcp", ...
  int from_port = -1;
  int to_port = -1;
  std::vector<std::string> cidrs;
  std::vector<std::string> group_ids;
};

struct SecurityGroup {
  std::string id;
  std::string name;
  std::string vpc_id;
  std::vector<Permission> ingress;
};
std::vector<SecurityGroup> parse_security_groups(std::string& body);

struct KeyPair {
  std::string name;
  std::string fingerprint;
  std::string public_key;  // only when asked with IncludePublicKey
};
std::vector<KeyPair> parse_key_pairs(std::string& body);

struct Image {
  std::string id;
  std::string name;
  std::string creation_date;  // ISO 8601; sorts as text
};
std::vector<Image> parse_images(std::string& body);

// One item of DescribeInstanceTypes: what Ray reads of it.
struct InstanceTypeInfo {
  std::string name;             // instanceType
  int vcpus = 0;                // vCpuInfo.defaultVCpus
  long long memory_mib = 0;     // memoryInfo.sizeInMiB
  std::string gpu_name;         // gpuInfo.gpus[0].name ("T4", "A10G", ...)
  int gpu_count = 0;            // gpuInfo.gpus[0].count
};
std::vector<InstanceTypeInfo> parse_instance_types(std::string& body);

// The text of the first element of that name anywhere in the document
// (CreateSecurityGroup's groupId, CreateKeyPair's keyMaterial, ...).
std::optional<std::string> find_text(std::string& body, std::string_view element);

// An EC2 error document: <Response><Errors><Error> with <RequestID>, or
// <ErrorResponse><Error> with <RequestId>.
struct ErrorInfo {
  std::string code;
  std::string message;
  std::string request_id;
};
std::optional<ErrorInfo> parse_error(std::string_view body);

// "2024-03-01T12:00:00.000Z" as a time point; the epoch when malformed.
std::chrono::system_clock::time_point parse_iso8601(std::string_view text);

}  // namespace raycluster::detail::ec2
