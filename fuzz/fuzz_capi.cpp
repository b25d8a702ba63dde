// The C ABI's string-taking functions on arbitrary strings: nothing but an
// rc_status comes back, whatever the bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "raycluster/raycluster.h"

namespace {

rc_cluster* local_cluster() {
  static rc_cluster* cluster = [] {
    static std::string home = [] {
      char tmpl[] = "/tmp/rc-fuzz-capi-XXXXXX";
      const char* dir = mkdtemp(tmpl);
      if (!dir) std::abort();
      return std::string(dir);
    }();
    setenv("RAYCLUSTER_HOME", home.c_str(), 1);
    rc_spec* spec = nullptr;
    const char* yaml =
        "cluster_name: fuzz\nprovider: {type: localhost}\nhead_node_type: h\n"
        "available_node_types:\n  h: {resources: {CPU: 1}, max_workers: 0}\n"
        "  w: {resources: {CPU: 1}, min_workers: 0, max_workers: 2}\n";
    if (rc_spec_load_string(&spec, yaml, "fuzz.yaml") != RC_OK) std::abort();
    rc_cluster* c = nullptr;
    if (rc_cluster_open(&c, spec, nullptr) != RC_OK) std::abort();
    rc_spec_free(spec);
    return c;
  }();
  return cluster;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string s(reinterpret_cast<const char*>(data), size);  // NUL-terminated copy
  rc_spec* spec = nullptr;
  if (rc_spec_load_string(&spec, s.c_str(), s.c_str()) == RC_OK) {
    char* json = nullptr;
    if (rc_spec_to_json(&json, spec) == RC_OK) rc_string_free(json);
    rc_spec_free(spec);
  }
  (void)rc_last_error();
  (void)rc_request_resources(local_cluster(), s.c_str());
  (void)rc_last_error();
  return 0;
}
