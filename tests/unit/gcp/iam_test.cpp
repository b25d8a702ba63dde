// lib/providers/gcp/iam: names, the role's condition and policy edits.
#include <doctest/doctest.h>

#include <algorithm>
#include <regex>

#include "providers/gcp/iam.hpp"

using namespace raycluster;
using namespace raycluster::detail::gce;

TEST_CASE("gcp iam: account and role ids fit IAM's rules and name the cluster id") {
  auto n = head_identity_names("proj-1", "0123456789abcdef0123", "My Cluster");
  CHECK(std::regex_match(n.account_id, std::regex("[a-z]([-a-z0-9]*[a-z0-9])")));
  CHECK(n.account_id.size() >= 6);
  CHECK(n.account_id.size() <= 30);
  CHECK(n.email == n.account_id + "@proj-1.iam.gserviceaccount.com");
  CHECK(std::regex_match(n.role_id, std::regex("[a-zA-Z0-9_.]{3,64}")));
  CHECK(n.role == "projects/proj-1/roles/" + n.role_id);
  CHECK(n.member == "serviceAccount:" + n.email);
  CHECK(n.marker.find("0123456789abcdef0123") != std::string::npos);
  // Two clusters, two accounts.
  CHECK(head_identity_names("proj-1", "aaaa1111", "c").email !=
        head_identity_names("proj-1", "bbbb2222", "c").email);
}

TEST_CASE("gcp iam: the role is Compute only, sorted, without admin-wide permissions") {
  const auto& p = head_role_permissions();
  CHECK(std::is_sorted(p.begin(), p.end()));
  for (const auto& perm : p) {
    CHECK(perm.rfind("compute.", 0) == 0);
    CHECK(perm.find('*') == std::string::npos);
  }
  CHECK(std::find(p.begin(), p.end(), "compute.instances.delete") != p.end());
  CHECK(std::find(p.begin(), p.end(), "compute.firewalls.create") == p.end());
  CHECK(std::find(p.begin(), p.end(), "compute.instances.setServiceAccount") == p.end());
}

TEST_CASE("gcp iam: the condition lets through non-instances and the cluster's instances per zone") {
  auto expr = head_role_condition("p", {"us-central1-a", "us-central1-b"}, "ray-c-");
  CHECK(expr == "resource.type != \"compute.googleapis.com/Instance\" || "
                "resource.name.startsWith(\"projects/p/zones/us-central1-a/instances/ray-c-\") || "
                "resource.name.startsWith(\"projects/p/zones/us-central1-b/instances/ray-c-\")");
}

TEST_CASE("gcp iam: bindings are added once, with version 3, and removed without touching others") {
  Value policy = Value::parse_json(
      R"({"etag":"BwX=","version":1,"bindings":[{"role":"roles/owner","members":["user:a@x"]},)"
      R"({"role":"projects/p/roles/r","members":["serviceAccount:s@p","user:b@x"]}]})");
  CHECK(add_conditional_binding(policy, "projects/p/roles/r", "serviceAccount:s@p", "t", "E"));
  CHECK(policy.find("version")->as_int() == 3);
  CHECK(policy.find("etag")->as_string() == "BwX=");
  CHECK_FALSE(add_conditional_binding(policy, "projects/p/roles/r", "serviceAccount:s@p", "t", "E"));
  CHECK(policy.find("bindings")->size() == 3);
  CHECK(remove_member_bindings(policy, "projects/p/roles/r", "serviceAccount:s@p"));
  const auto& b = policy.find("bindings")->as_array();
  REQUIRE(b.size() == 2);
  CHECK(b[0].find("role")->as_string() == "roles/owner");
  CHECK(b[1].find("members")->size() == 1);
  CHECK(b[1].find("members")->as_array()[0].as_string() == "user:b@x");
  CHECK_FALSE(remove_member_bindings(policy, "projects/p/roles/r", "serviceAccount:s@p"));
}
