// The head's IAM role (providers/aws/iam.hpp) on a fake IAM: what is created,
// reused, refused and removed, and the head's launch with its profile.
#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <set>

#include "harness.hpp"
#include "providers/aws/iam.hpp"
#include "util/error.hpp"
#include "util/value.hpp"

using namespace raycluster;
using namespace raycluster::detail;
using namespace raycluster::detail::ec2;
using rctest::AwsHarness;
using rctest::Ec2Call;
using rctest::FakeEc2;

namespace {

// A small IAM behind the FakeEc2's handlers: roles, inline policies, profiles.
struct FakeIam {
  struct Entity {
    std::map<std::string, std::string> tags;
    std::map<std::string, std::string> policies;
    std::vector<std::string> roles;
  };
  std::map<std::string, Entity> roles, profiles;
  std::set<std::string> denied;

  static std::map<std::string, std::string> tags_of(const Ec2Call& c) {
    std::map<std::string, std::string> t;
    for (int i = 1; c.has("Tags.member." + std::to_string(i) + ".Key"); ++i)
      t[c.at("Tags.member." + std::to_string(i) + ".Key")] = c.at("Tags.member." + std::to_string(i) + ".Value");
    return t;
  }
  static std::string tags_xml(const Entity& e) {
    std::string x = "<Tags>";
    for (const auto& [k, v] : e.tags) x += "<member><Key>" + k + "</Key><Value>" + v + "</Value></member>";
    return x + "</Tags>";
  }
  static HttpResponse answer(const std::string& action, const std::string& inner) {
    return FakeEc2::ok("<" + action + "Response xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><" + action +
                       "Result>" + inner + "</" + action + "Result></" + action + "Response>");
  }
  static HttpResponse missing() { return FakeEc2::fail(404, "NoSuchEntity", "not found", true); }

  void install(FakeEc2& ec2) {
    auto on = [&](const std::string& action, std::function<HttpResponse(const Ec2Call&)> fn) {
      ec2.handlers[action] = [this, action, fn](const Ec2Call& c) {
        if (denied.count(action)) return FakeEc2::fail(403, "AccessDenied", "not authorized", true);
        return fn(c);
      };
    };
    on("GetRole", [this](const Ec2Call& c) {
      auto it = roles.find(c.at("RoleName"));
      if (it == roles.end()) return missing();
      return answer("GetRole", "<Role><RoleName>" + it->first + "</RoleName>" + tags_xml(it->second) + "</Role>");
    });
    on("CreateRole", [this](const Ec2Call& c) {
      roles[c.at("RoleName")].tags = tags_of(c);
      return answer("CreateRole", "<Role><RoleName>" + c.at("RoleName") + "</RoleName></Role>");
    });
    on("GetRolePolicy", [this](const Ec2Call& c) {
      auto it = roles.find(c.at("RoleName"));
      if (it == roles.end() || !it->second.policies.count(c.at("PolicyName"))) return missing();
      return answer("GetRolePolicy", "<PolicyDocument>" +
                                         sigv4::uri_encode(it->second.policies[c.at("PolicyName")], false) +
                                         "</PolicyDocument>");
    });
    on("PutRolePolicy", [this](const Ec2Call& c) {
      roles.at(c.at("RoleName")).policies[c.at("PolicyName")] = c.at("PolicyDocument");
      return answer("PutRolePolicy", "");
    });
    on("DeleteRolePolicy", [this](const Ec2Call& c) {
      auto it = roles.find(c.at("RoleName"));
      if (it == roles.end() || !it->second.policies.erase(c.at("PolicyName"))) return missing();
      return answer("DeleteRolePolicy", "");
    });
    on("DeleteRole", [this](const Ec2Call& c) {
      auto it = roles.find(c.at("RoleName"));
      if (it == roles.end()) return missing();
      if (!it->second.policies.empty()) return FakeEc2::fail(409, "DeleteConflict", "policies", true);
      for (const auto& [n, p] : profiles)
        for (const auto& r : p.roles)
          if (r == it->first) return FakeEc2::fail(409, "DeleteConflict", "in a profile", true);
      roles.erase(it);
      return answer("DeleteRole", "");
    });
    on("GetInstanceProfile", [this](const Ec2Call& c) {
      auto it = profiles.find(c.at("InstanceProfileName"));
      if (it == profiles.end()) return missing();
      std::string rs = "<Roles>";
      for (const auto& r : it->second.roles)
        rs += "<member><RoleName>" + r + "</RoleName><Tags><member><Key>raycluster-id</Key><Value>role-tag"
              "</Value></member></Tags></member>";
      return answer("GetInstanceProfile", "<InstanceProfile>" + rs + "</Roles>" + tags_xml(it->second) +
                                              "</InstanceProfile>");
    });
    on("CreateInstanceProfile", [this](const Ec2Call& c) {
      profiles[c.at("InstanceProfileName")].tags = tags_of(c);
      return answer("CreateInstanceProfile", "");
    });
    on("AddRoleToInstanceProfile", [this](const Ec2Call& c) {
      auto& p = profiles.at(c.at("InstanceProfileName"));
      if (!p.roles.empty()) return FakeEc2::fail(409, "LimitExceeded", "one role", true);
      p.roles.push_back(c.at("RoleName"));
      return answer("AddRoleToInstanceProfile", "");
    });
    on("RemoveRoleFromInstanceProfile", [this](const Ec2Call& c) {
      auto& p = profiles.at(c.at("InstanceProfileName"));
      std::erase(p.roles, c.at("RoleName"));
      return answer("RemoveRoleFromInstanceProfile", "");
    });
    on("DeleteInstanceProfile", [this](const Ec2Call& c) {
      auto it = profiles.find(c.at("InstanceProfileName"));
      if (it == profiles.end()) return missing();
      if (!it->second.roles.empty()) return FakeEc2::fail(409, "DeleteConflict", "has a role", true);
      profiles.erase(it);
      return answer("DeleteInstanceProfile", "");
    });
  }
};

struct IamHarness : AwsHarness {
  FakeIam iam;
  IamHarness() {
    env["AWS_ENDPOINT_URL_IAM"] = "http://127.0.0.1:9/iam-here";
    make();
    iam.install(ec2);
  }
  std::string role() const { return head_role_name(spec.cluster_name, "c0ffee00c0ffee00"); }
  std::filesystem::path marker() const { return dir / spec.cluster_name / "head_role.json"; }
  std::vector<std::string> iam_actions_called() const {
    std::vector<std::string> out;
    for (const auto& c : ec2.calls)
      if (c.request.url.find("iam-here") != std::string::npos) out.push_back(c.action);
    return out;
  }
};

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("aws head role: made once, signed for IAM, and the head is launched with it") {
  IamHarness h;
  h.provider->prepare_head_identity(h.sink(), {});
  const std::string role = h.role();
  REQUIRE(h.iam.roles.count(role));
  CHECK(h.iam.roles[role].tags.at("raycluster-id") == "c0ffee00c0ffee00");
  CHECK(h.iam.roles[role].tags.at("ray-cluster-name") == "t");
  REQUIRE(h.iam.profiles.count(role));
  CHECK(h.iam.profiles[role].tags.at("raycluster-id") == "c0ffee00c0ffee00");
  CHECK(h.iam.profiles[role].roles == std::vector<std::string>{role});
  CHECK(std::filesystem::exists(h.marker()));
  // The trust policy lets EC2 assume it; the inline policy is the document for this region and id.
  const auto create = h.ec2.of("CreateRole").at(0);
  Value trust = Value::parse_json(create.at("AssumeRolePolicyDocument"));
  CHECK(trust.to_json().find("ec2.amazonaws.com") != std::string::npos);
  CHECK(Value::parse_json(h.iam.roles[role].policies.at(kHeadPolicyName)) ==
        Value::parse_json(head_policy_document("us-east-1", "raycluster-id", "c0ffee00c0ffee00")));
  for (const auto& c : h.ec2.calls) {
    if (!contains(c.request.url, "iam-here")) continue;
    CHECK(c.at("Version") == "2010-05-08");
    std::string auth;
    for (const auto& [k, v] : c.request.headers)
      if (k == "Authorization") auth = v;
    CHECK(contains(auth, "/us-east-1/iam/aws4_request"));
  }

  h.bootstrap();
  // EC2 needs a few seconds to see a new profile: refused twice, then launched.
  h.ec2.faults.push_back({"RunInstances", FakeEc2::fail(400, "InvalidParameterValue",
      "Value (" + role + ") for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name")});
  h.ec2.faults.push_back({"RunInstances", FakeEc2::fail(400, "InvalidParameterValue",
      "Value (" + role + ") for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name")});
  auto head = h.provider->create(h.request("head", 1, "tok-head", NodeKind::head));
  CHECK(head.size() == 1);
  auto runs = h.ec2.of("RunInstances");
  REQUIRE(runs.size() == 3);
  for (const auto& r : runs) CHECK(r.at("IamInstanceProfile.Name") == role);
  CHECK(runs[0].at("ClientToken") == runs[2].at("ClientToken"));
  CHECK(h.sleeps.size() >= 2);
  // Workers get no profile: the head's role is the head's alone.
  h.provider->create(h.request("worker", 2, "tok-w"));
  CHECK_FALSE(h.ec2.of("RunInstances").back().has("IamInstanceProfile.Name"));

  // A second `up` finds everything and creates nothing.
  h.ec2.calls.clear();
  h.make();
  h.iam.install(h.ec2);
  h.provider->prepare_head_identity(h.sink(), {});
  for (const auto& a : h.iam_actions_called()) CHECK(a.rfind("Get", 0) == 0);
}

TEST_CASE("aws head role: a policy changed by hand is put back") {
  IamHarness h;
  h.provider->prepare_head_identity(h.sink(), {});
  h.iam.roles[h.role()].policies[kHeadPolicyName] = R"({"Version":"2012-10-17","Statement":[]})";
  h.ec2.calls.clear();
  h.provider->prepare_head_identity(h.sink(), {});
  CHECK(h.ec2.of("PutRolePolicy").size() == 1);
  CHECK(h.ec2.of("CreateRole").empty());
}

TEST_CASE("aws head role: a role of that name that is not the cluster's is never touched") {
  IamHarness h;
  h.iam.roles[h.role()].tags = {{"raycluster-id", "someone-else"}};
  try {
    h.provider->prepare_head_identity(h.sink(), {});
    FAIL("expected a conflict");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::conflict);
    CHECK(contains(e.what(), h.role()));
  }
  for (const auto& a : h.iam_actions_called()) CHECK(a == "GetRole");
  CHECK_FALSE(std::filesystem::exists(h.marker()));
  // `down` has no marker: it asks IAM nothing.
  h.ec2.calls.clear();
  h.provider->teardown(h.sink(), {});
  CHECK(h.iam_actions_called().empty());
}

TEST_CASE("aws head role: a refusal names the call, says what to do and leaves nothing behind") {
  for (const char* refused : {"CreateRole", "PutRolePolicy", "CreateInstanceProfile", "AddRoleToInstanceProfile"}) {
    CAPTURE(refused);
    IamHarness h;
    h.iam.denied.insert(refused);
    try {
      h.provider->prepare_head_identity(h.sink(), {});
      FAIL("expected a refusal");
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::auth);
      CHECK(contains(e.what(), std::string("IAM refused ") + refused + " (AccessDenied)"));
      CHECK(contains(e.what(), "IamInstanceProfile"));
      CHECK(contains(e.what(), "autoscaler: local"));
    }
    CHECK(h.iam.roles.empty());
    CHECK(h.iam.profiles.empty());
    CHECK_FALSE(std::filesystem::exists(h.marker()));
    CHECK(h.ec2.of("RunInstances").empty());
  }
}

TEST_CASE("aws head role: down removes role and profile in IAM's order, after the instances") {
  IamHarness h;
  h.provider->prepare_head_identity(h.sink(), {});
  h.bootstrap();
  h.provider->create(h.request("head", 1, "tok-head", NodeKind::head));
  h.ec2.calls.clear();
  h.provider->teardown(h.sink(), {});
  CHECK(h.iam.roles.empty());
  CHECK(h.iam.profiles.empty());
  CHECK_FALSE(std::filesystem::exists(h.marker()));
  std::vector<std::string> order;
  for (const auto& c : h.ec2.calls)
    if (c.action.rfind("Get", 0) != 0) order.push_back(c.action);
  // Instances first, then the profile loses its role, then policy and role go.
  auto at = [&](const std::string& a) {
    return std::find(order.begin(), order.end(), a) - order.begin();
  };
  CHECK(at("TerminateInstances") < at("RemoveRoleFromInstanceProfile"));
  CHECK(at("RemoveRoleFromInstanceProfile") < at("DeleteInstanceProfile"));
  CHECK(at("DeleteRolePolicy") < at("DeleteRole"));
  CHECK(at("DeleteRole") < static_cast<long>(order.size()));
}

TEST_CASE("aws head role: names fit IAM's 64 characters and its character set") {
  const std::string n = head_role_name(std::string(100, 'x') + " / odd:name", "0123456789abcdef");
  CHECK(n.size() <= 64);
  CHECK(n.rfind("raycluster-", 0) == 0);
  CHECK(n.substr(n.size() - 9) == "-01234567");
  for (char c : n) CHECK((std::isalnum(static_cast<unsigned char>(c)) || std::string("+=,.@_-").find(c) != std::string::npos));
  CHECK(iam_endpoint({}, "us-west-2").url == "https://iam.amazonaws.com");
  CHECK(iam_endpoint({}, "us-west-2").signing_region == "us-east-1");
  CHECK(aws_partition("cn-north-1") == "aws-cn");
}
