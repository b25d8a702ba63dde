// Node type resources from Compute's machineTypes.get (lib/providers/gcp/
// machine_types.*, node_resources.cpp), against the fake Compute.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "harness.hpp"
#include "providers/gcp/machine_types.hpp"

using namespace raycluster;
using namespace raycluster::detail::gce;
using rctest::GcpHarness;

namespace {

// Answers as Compute gives them (figures published for these types).
Value machine_type(const std::string& name, int cpus, long long memory_mb,
                   const std::string& gpu = "", int gpus = 0) {
  Value v = Value::object();
  v.set("kind", "compute#machineType");
  v.set("name", name);
  v.set("guestCpus", cpus);
  v.set("memoryMb", static_cast<std::int64_t>(memory_mb));
  v.set("zone", "us-central1-a");
  if (!gpu.empty()) {
    Value a = Value::object();
    a.set("guestAcceleratorType", gpu);
    a.set("guestAcceleratorCount", gpus);
    Value list = Value::array();
    list.push(std::move(a));
    v.set("accelerators", std::move(list));
  }
  return v;
}

const std::string kTypes = rctest::kTwoZonePreamble + R"(
available_node_types:
  head:
    node_config: {machineType: n1-standard-4}
  t4:
    resources: {CPU: 2, custom: 1}
    node_config:
      machineType: zones/us-central1-a/machineTypes/n1-standard-8
      guestAccelerators:
        - {acceleratorType: projects/p/zones/us-central1-a/acceleratorTypes/nvidia-tesla-t4, acceleratorCount: 2}
  a100:
    node_config: {machineType: a2-highgpu-1g}
  l4:
    node_config: {machineType: g2-standard-8}
head_node_type: head
)";

void fill(GcpHarness& h) {
  auto& a = h.gce.machine_types["us-central1-a"];
  a["n1-standard-4"] = machine_type("n1-standard-4", 4, 15360);
  a["n1-standard-8"] = machine_type("n1-standard-8", 8, 30720);
  a["a2-highgpu-1g"] = machine_type("a2-highgpu-1g", 12, 87040, "nvidia-tesla-a100", 1);
  // g2 only in the second zone: the first one's 404 moves on.
  h.gce.machine_types["us-central1-b"]["g2-standard-8"] =
      machine_type("g2-standard-8", 8, 32768, "nvidia-l4", 1);
}

std::map<std::string, double> of(GcpHarness& h, const std::string& type) {
  const NodeTypeSpec* t = h.spec.find_node_type(type);
  REQUIRE(t);
  return h.provider->node_type_resources(*t, type == h.spec.head_node_type, {});
}

}  // namespace

TEST_CASE("gcp machine types: Ray's accelerator_type names of Compute's GPU types") {
  // As Ray's NVIDIA manager names the card each type carries ("Tesla T4",
  // "NVIDIA A100-SXM4-80GB", "NVIDIA L4", "NVIDIA H100 80GB HBM3",
  // "NVIDIA RTX PRO 6000 Blackwell Server Edition").
  CHECK(ray_accelerator_name("nvidia-tesla-t4") == "T4");
  CHECK(ray_accelerator_name("nvidia-tesla-v100") == "V100");
  CHECK(ray_accelerator_name("nvidia-tesla-a100") == "A100");
  CHECK(ray_accelerator_name("nvidia-a100-80gb") == "A100");
  CHECK(ray_accelerator_name("nvidia-l4") == "L4");
  CHECK(ray_accelerator_name("nvidia-h100-mega-80gb") == "H100");
  CHECK(ray_accelerator_name("nvidia-rtx-pro-6000") == "RTX-PRO-6000");
  CHECK(ray_accelerator_name("nvidia-") == "");
  CHECK(ray_accelerator_name("") == "");
}

TEST_CASE("gcp machine types: CPU, workers' memory, GPUs of the type and of guestAccelerators") {
  GcpHarness h(kTypes);
  fill(h);
  auto head = of(h, "head");
  CHECK(head == std::map<std::string, double>{{"CPU", 4}});  // no memory for the head
  auto t4 = of(h, "t4");
  CHECK(t4.at("CPU") == 8);
  CHECK(t4.at("memory") == static_cast<double>(static_cast<long long>(30720.0 * 1024 * 1024 * 0.7)));
  CHECK(t4.at("GPU") == 2);
  CHECK(t4.at("accelerator_type:T4") == 1);
  CHECK(t4.size() == 4);
  auto a100 = of(h, "a100");
  CHECK(a100.at("GPU") == 1);
  CHECK(a100.at("accelerator_type:A100") == 1);
  auto l4 = of(h, "l4");
  CHECK(l4.at("CPU") == 8);
  CHECK(l4.at("accelerator_type:L4") == 1);
  CHECK(h.gce.of("GET", "zones/us-central1-a/machineTypes/g2-standard-8").size() == 1);
  CHECK(h.gce.of("GET", "zones/us-central1-b/machineTypes/g2-standard-8").size() == 1);
}

TEST_CASE("gcp machine types: answers are kept per project/zone/type; a new provider asks no more") {
  GcpHarness h(kTypes);
  fill(h);
  auto first = of(h, "t4");
  CHECK(of(h, "t4") == first);
  CHECK(h.gce.of("GET", "machineTypes/n1-standard-8").size() == 1);
  of(h, "l4");
  std::ifstream in(h.dir / "t" / "machine_types.json");
  std::stringstream text;
  text << in.rdbuf();
  Value cache = Value::parse_json(text.str());
  CHECK(cache.find("p/us-central1-a/n1-standard-8"));
  CHECK(cache.find("p/us-central1-b/g2-standard-8"));
  h.make();
  h.gce.machine_types.clear();  // Compute would now 404 everything
  CHECK(of(h, "t4") == first);
  CHECK(of(h, "l4").at("accelerator_type:L4") == 1);
  CHECK(h.gce.of("GET", "machineTypes/n1-standard-8").size() == 1);
}

TEST_CASE("gcp machine types: a type no zone has is named, and a bad answer is refused") {
  GcpHarness h(kTypes);
  fill(h);
  h.gce.machine_types["us-central1-a"].erase("a2-highgpu-1g");
  try {
    of(h, "a100");
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::invalid_request);
    CHECK(std::string(e.what()).find("a2-highgpu-1g") != std::string::npos);
    CHECK(std::string(e.what()).find("us-central1-a,us-central1-b") != std::string::npos);
  }
  Value bad = machine_type("n1-standard-4", 4, 15360);
  bad.set("guestCpus", "four");
  h.gce.machine_types["us-central1-a"]["n1-standard-4"] = bad;
  CHECK_THROWS_AS(of(h, "head"), Error);
  CHECK_FALSE(parse_machine_type(bad));
}

TEST_CASE("gcp machine types: a malformed guestAccelerators names the node type") {
  GcpHarness h(kTypes);
  fill(h);
  NodeTypeSpec t = *h.spec.find_node_type("t4");
  t.node_config.set("guestAccelerators", Value::parse_json(R"([{"acceleratorCount": 1}])"));
  try {
    h.provider->node_type_resources(t, false, {});
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("node type t4") != std::string::npos);
    CHECK(std::string(e.what()).find("guestAccelerators") != std::string::npos);
  }
}
