// The one parser of request_resources() (command line and C ABI) and the
// persisted request.
#include <doctest/doctest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <string>

#include "monitor/resource_request.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

using namespace raycluster;

namespace {

std::string error_of(std::optional<std::string_view> json, std::int64_t cpus = 0) {
  try {
    parse_resource_request(json, cpus);
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::invalid_argument);
    return e.what();
  }
  return "";
}

std::string temp_dir() {
  char tmpl[] = "/tmp/rc-request-test-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  return tmpl;
}

bool same(const std::vector<ResourceDemand>& a, const std::vector<ResourceDemand>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (!(a[i].shape == b[i].shape) || a[i].count != b[i].count) return false;
  return true;
}

}  // namespace

TEST_CASE("request: num_cpus and bundles are aggregated by shape, first-seen order") {
  auto got = parse_resource_request(R"([{"GPU": 1, "CPU": 4}, {"CPU": 1}, {"CPU": 4, "GPU": 1}, {}])", 2);
  CHECK(same(got, {{ResourceMap{{"CPU", 1}}, 3}, {ResourceMap{{"CPU", 4}, {"GPU", 1}}, 2}}));
  CHECK(parse_resource_request("[]").empty());
  CHECK(parse_resource_request(std::nullopt, 0).empty());
  CHECK(error_of("").find("request_resources: bundles is not JSON") == 0);
  CHECK(same(parse_resource_request(std::nullopt, 1000000), {{ResourceMap{{"CPU", 1}}, 1000000}}));
}

TEST_CASE("request: each mistake has one text naming the bundle or the limit") {
  CHECK(error_of("{") .find("request_resources: bundles is not JSON") == 0);
  CHECK(error_of(R"({"CPU": 1})") ==
        "request_resources: bundles must be a JSON list of objects of resource amounts, "
        "e.g. [{\"CPU\": 2}] ([] withdraws)");
  CHECK(error_of("[{}, 1]") ==
        "request_resources: bundle 1 is not an object of resource amounts, e.g. {\"CPU\": 1}");
  CHECK(error_of(R"([{"": 1}])") == "request_resources: bundle 0 has an empty resource name");
  for (const char* bad : {R"([{"CPU": -1}])", R"([{"CPU": "1"}])", R"([{"CPU": 1e19}])",
                          R"([{"CPU": null}])"})
    CHECK(error_of(bad) ==
          "request_resources: bundle 0: \"CPU\" must be a finite number >= 0 and at most 1e18");
  CHECK(error_of(std::nullopt, -1) == "request_resources: num_cpus must be a whole number >= 0, not -1");
  const std::string too_many =
      "request_resources: more than 10000000 bundles in total (the limit, kMaxRequestedBundles)";
  CHECK(error_of(std::nullopt, kMaxRequestedBundles + 1) == too_many);
  CHECK(error_of(R"([{"CPU": 1}])", kMaxRequestedBundles) == too_many);
  CHECK(error_of(std::nullopt, kMaxRequestedBundles).empty());
  std::string big = "[" + std::string(kMaxResourceRequestBytes, ' ') + "]";
  CHECK(error_of(big).find("more than the limit of 1048576 (kMaxResourceRequestBytes)") !=
        std::string::npos);
}

TEST_CASE("request: a million CPUs is persisted as one small entry and read back") {
  std::string dir = temp_dir();
  CHECK(read_resource_request(dir).empty());
  write_resource_request(dir, parse_resource_request(R"([{"GPU": 1}])", 1000000));
  struct stat st {};
  REQUIRE(stat((dir + "/requested_resources.json").c_str(), &st) == 0);
  CHECK(st.st_size < 200);
  CHECK(same(read_resource_request(dir),
             {{ResourceMap{{"CPU", 1}}, 1000000}, {ResourceMap{{"GPU", 1}}, 1}}));
  CHECK(detail::read_file(dir + "/requested_resources.json").find("\"requests\"") !=
        std::string::npos);
  write_resource_request(dir, {});
  CHECK(read_resource_request(dir).empty());
  detail::remove_tree(dir);
}

TEST_CASE("request: the older one-entry-per-bundle file is still read, aggregated") {
  std::string dir = temp_dir();
  detail::write_file_atomic(dir + "/requested_resources.json",
                            R"({"bundles":[{"CPU":2,"demo_slot":1},{"CPU":1},{"CPU":1}]})");
  CHECK(same(read_resource_request(dir), {{ResourceMap{{"CPU", 2}, {"demo_slot", 1}}, 1},
                                          {ResourceMap{{"CPU", 1}}, 2}}));
  detail::write_file_atomic(dir + "/requested_resources.json", R"({"bundles":[{"CPU":-1}]})");
  CHECK_THROWS_AS(read_resource_request(dir), Error);
  for (const char* bad : {R"({"requests":[[{"CPU":1}, 0]]})", R"({"requests":[[{"CPU":1}, 1.5]]})",
                          R"({"requests":[[{"CPU":1}, 1e12]]})", R"({"requests":[{"CPU":1}]})",
                          R"({"other":[]})"}) {
    detail::write_file_atomic(dir + "/requested_resources.json", bad);
    CHECK_THROWS_AS(read_resource_request(dir), Error);
  }
  detail::remove_tree(dir);
}
