#include "providers/aws/iam.hpp"

#include <cstdio>
#include <cstring>
#include <optional>
#include <pugixml.hpp>

#include "auth/sigv4.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/value.hpp"

namespace raycluster::detail::ec2 {
namespace {

constexpr std::size_t kMaxAnswer = 1 << 20;

// The tags and names of one IAM answer (GetRole, GetInstanceProfile).
struct IamEntity {
  Tags tags;
  std::vector<std::string> role_names;  // an instance profile's roles
  std::string policy_document;          // GetRolePolicy's, decoded
};

IamEntity parse_entity(std::string body) {
  if (body.size() > kMaxAnswer)
    throw Error(ErrorCode::invalid_request, "IAM answered with more than 1 MiB");
  pugi::xml_document doc;
  auto r = doc.load_buffer_inplace(body.data(), body.size(), pugi::parse_escapes | pugi::parse_eol,
                                   pugi::encoding_utf8);
  if (!r)
    throw Error(ErrorCode::invalid_request,
                std::string("IAM answered with malformed XML: ") + r.description());
  IamEntity e;
  // The entity's own tags only: an instance profile's roles carry theirs too.
  for (auto m : doc.select_nodes("//GetRoleResult/Role/Tags/member | "
                                 "//GetInstanceProfileResult/InstanceProfile/Tags/member"))
    e.tags[m.node().child_value("Key")] = m.node().child_value("Value");
  for (auto n : doc.select_nodes("//InstanceProfile/Roles/member/RoleName"))
    e.role_names.push_back(n.node().child_value());
  if (auto p = doc.select_node("//GetRolePolicyResult/PolicyDocument"))
    e.policy_document = sigv4::uri_decode(p.node().child_value());
  return e;
}

bool is_missing(const Ec2Error& e) { return e.aws_code() == "NoSuchEntity"; }

bool is_refusal(const Ec2Error& e) {
  return e.code() == ErrorCode::auth || e.aws_code() == "AccessDenied" ||
         e.aws_code() == "AccessDeniedException" || e.aws_code() == "UnauthorizedOperation";
}

void add_tags(QueryParams& p, const Tags& tags) {
  int i = 0;
  for (const auto& [k, v] : tags) {
    const std::string m = "Tags.member." + std::to_string(++i);
    p.emplace_back(m + ".Key", k);
    p.emplace_back(m + ".Value", v);
  }
}

bool same_policy(const std::string& a, const std::string& b) {
  try {
    return Value::parse_json(a) == Value::parse_json(b);
  } catch (const std::exception&) {
    return false;
  }
}

// One ensure_head_role() run: what it created, so a refusal can undo it.
class RoleBuilder {
 public:
  RoleBuilder(Client& iam, const HeadRoleRequest& r, const EventSink& events, const CancelToken& cancel)
      : iam_(iam), r_(r), events_(events), cancel_(cancel) {}

  std::string run() {
    try {
      ensure_role();
      ensure_policy();
      ensure_profile();
      return r_.role_name;
    } catch (const Ec2Error& e) {
      if (!is_refusal(e)) throw;
      undo();
      throw Error(ErrorCode::auth,
                  "IAM refused " + last_action_ + " (" + e.aws_code() +
                      ") while making the head's role " + r_.role_name +
                      "; nothing was launched and nothing of it is left. " + r_.instead,
                  false, e.request_id());
    }
  }

 private:
  std::string call(const char* action, const QueryParams& p) {
    last_action_ = action;
    return iam_.call(action, p, cancel_);
  }
  QueryParams role_param() const { return {{"RoleName", r_.role_name}}; }
  QueryParams profile_param() const { return {{"InstanceProfileName", r_.role_name}}; }
  bool ours(const Tags& tags) const {
    auto it = tags.find(r_.id_tag);
    return it != tags.end() && it->second == r_.cluster_id;
  }
  void mark() {
    if (marked_ || path_exists(r_.marker_path)) return;
    Value m = Value::object();
    m.set("role", r_.role_name);
    m.set("instance_profile", r_.role_name);
    write_file_atomic(r_.marker_path, m.to_json(2) + "\n", 0600);
    marked_ = true;
  }
  std::optional<IamEntity> get(const char* action, const QueryParams& p) {
    try {
      return parse_entity(call(action, p));
    } catch (const Ec2Error& e) {
      if (is_missing(e)) return std::nullopt;
      throw;
    }
  }
  void not_ours(const char* what) {
    throw Error(ErrorCode::conflict,
                std::string("an IAM ") + what + " named " + r_.role_name + " exists without the tag " +
                    r_.id_tag + "=" + r_.cluster_id + ": it is not this cluster's, and raycluster leaves "
                    "it alone. " + r_.instead);
  }

  void ensure_role() {
    if (auto role = get("GetRole", role_param())) {
      if (!ours(role->tags)) not_ours("role");
      log_event(events_, LogLevel::info, "using the head's IAM role " + r_.role_name);
      return;
    }
    mark();
    QueryParams p = role_param();
    p.emplace_back("AssumeRolePolicyDocument", ec2_trust_policy());
    p.emplace_back("Description", "raycluster: the autoscaler on the head of this cluster");
    add_tags(p, r_.tags);
    try {
      call("CreateRole", p);
      created_role_ = true;
      log_event(events_, LogLevel::info, "created the head's IAM role " + r_.role_name);
    } catch (const Ec2Error& e) {
      if (e.aws_code() != "EntityAlreadyExists") throw;
      auto role = get("GetRole", role_param());
      if (!role || !ours(role->tags)) not_ours("role");
    }
  }

  void ensure_policy() {
    QueryParams p = role_param();
    p.emplace_back("PolicyName", kHeadPolicyName);
    auto have = get("GetRolePolicy", p);
    if (have && same_policy(have->policy_document, r_.policy)) return;
    mark();
    p.emplace_back("PolicyDocument", r_.policy);
    call("PutRolePolicy", p);
    log_event(events_, LogLevel::info,
         std::string(have ? "updated" : "put") + " the policy " + kHeadPolicyName + " of " + r_.role_name);
  }

  void ensure_profile() {
    auto profile = get("GetInstanceProfile", profile_param());
    if (profile && !ours(profile->tags)) not_ours("instance profile");
    if (!profile) {
      mark();
      QueryParams p = profile_param();
      add_tags(p, r_.tags);
      try {
        call("CreateInstanceProfile", p);
        created_profile_ = true;
        log_event(events_, LogLevel::info, "created the head's instance profile " + r_.role_name);
      } catch (const Ec2Error& e) {
        if (e.aws_code() != "EntityAlreadyExists") throw;
      }
      profile = IamEntity{};
    }
    for (const auto& name : profile->role_names)
      if (name == r_.role_name) return;
    QueryParams p = profile_param();
    p.emplace_back("RoleName", r_.role_name);
    try {
      call("AddRoleToInstanceProfile", p);
    } catch (const Ec2Error& e) {
      if (e.aws_code() != "LimitExceeded") throw;
      throw Error(ErrorCode::conflict, "the instance profile " + r_.role_name +
                                           " holds another role than " + r_.role_name + ": remove it "
                                           "from the profile, or run `down` and `up` again");
    }
  }

  // After a refusal: delete what this run created, quietly (the refusal is
  // the error to report); the marker goes when nothing is left.
  void undo() {
    bool left = false;
    auto quietly = [&](const char* action, const QueryParams& p) {
      try {
        iam_.call(action, p, cancel_);
      } catch (const Ec2Error& e) {
        if (!is_missing(e)) left = true;
      } catch (const Error&) {
        left = true;
      }
    };
    if (created_profile_) {
      QueryParams p = profile_param();
      p.emplace_back("RoleName", r_.role_name);
      quietly("RemoveRoleFromInstanceProfile", p);
      quietly("DeleteInstanceProfile", profile_param());
    }
    if (created_role_) {
      QueryParams p = role_param();
      p.emplace_back("PolicyName", kHeadPolicyName);
      quietly("DeleteRolePolicy", p);
      quietly("DeleteRole", role_param());
    }
    if (marked_ && !left) std::remove(r_.marker_path.c_str());
  }

  Client& iam_;
  const HeadRoleRequest& r_;
  const EventSink& events_;
  const CancelToken& cancel_;
  std::string last_action_;
  bool marked_ = false;
  bool created_role_ = false;
  bool created_profile_ = false;
};

}  // namespace

const std::vector<std::string>& iam_actions() {
  static const std::vector<std::string> actions = {
      "AddRoleToInstanceProfile", "CreateInstanceProfile", "CreateRole",
      "DeleteInstanceProfile",    "DeleteRole",            "DeleteRolePolicy",
      "GetInstanceProfile",       "GetRole",               "GetRolePolicy",
      "PutRolePolicy",            "RemoveRoleFromInstanceProfile"};
  return actions;
}

std::string aws_partition(const std::string& region) {
  if (region.rfind("cn-", 0) == 0) return "aws-cn";
  if (region.rfind("us-gov-", 0) == 0) return "aws-us-gov";
  return "aws";
}

IamEndpoint iam_endpoint(const AwsEnvironment& env, const std::string& region) {
  const std::string partition = aws_partition(region);
  IamEndpoint e;
  e.signing_region = partition == "aws-cn" ? "cn-north-1" : partition == "aws-us-gov" ? "us-gov-west-1"
                                                                                      : "us-east-1";
  if (auto url = resolve_aws_endpoint_url(env, "iam")) {
    e.url = *url;
  } else if (partition == "aws-cn") {
    e.url = "https://iam.cn-north-1.amazonaws.com.cn";
  } else if (partition == "aws-us-gov") {
    e.url = "https://iam.us-gov.amazonaws.com";
  } else {
    e.url = "https://iam.amazonaws.com";
  }
  return e;
}

std::string head_role_name(const std::string& cluster_name, const std::string& cluster_id) {
  std::string name;
  for (char c : cluster_name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    std::strchr("+=,.@_-", c) != nullptr;
    name += ok ? c : '-';
  }
  const std::string id = cluster_id.substr(0, 8);
  const std::size_t room = 64 - std::string("raycluster-").size() - 1 - id.size();
  if (name.size() > room) name.resize(room);
  return "raycluster-" + name + "-" + id;
}

std::string ec2_trust_policy() {
  return R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow",)"
         R"("Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]})";
}

std::string head_policy_document(const std::string& region, const std::string& id_tag,
                                 const std::string& cluster_id) {
  const std::string arn = "arn:" + aws_partition(region) + ":ec2:" + region;
  Value ids = Value::object();
  ids.set("aws:RequestTag/" + id_tag, cluster_id);
  Value own = Value::object();
  own.set("aws:ResourceTag/" + id_tag, cluster_id);
  auto statement = [](const char* sid, Value actions, Value resources, Value condition) {
    Value s = Value::object();
    s.set("Sid", sid);
    s.set("Effect", "Allow");
    s.set("Action", std::move(actions));
    s.set("Resource", std::move(resources));
    if (!condition.is_null()) s.set("Condition", std::move(condition));
    return s;
  };
  auto list = [](std::initializer_list<std::string> items) {
    Value a = Value::array();
    for (const auto& i : items) a.push(i);
    return a;
  };
  Value equals_ids = Value::object();
  equals_ids.set("StringEquals", ids);
  Value tag_on_launch = Value::object();
  Value tag_on_launch_eq = ids;
  tag_on_launch_eq.set("ec2:CreateAction", "RunInstances");
  tag_on_launch.set("StringEquals", tag_on_launch_eq);
  Value equals_own = Value::object();
  equals_own.set("StringEquals", own);

  Value statements = Value::array();
  statements.push(statement("LaunchClusterInstances", list({"ec2:RunInstances"}),
                            list({arn + ":*:instance/*"}), equals_ids));
  statements.push(statement("LaunchWith", list({"ec2:RunInstances"}),
                            list({arn + "::image/*", arn + ":*:subnet/*", arn + ":*:security-group/*",
                                  arn + ":*:key-pair/*", arn + ":*:network-interface/*",
                                  arn + ":*:volume/*"}),
                            Value()));
  statements.push(statement("TagOnLaunch", list({"ec2:CreateTags"}), list({arn + ":*:instance/*"}),
                            tag_on_launch));
  statements.push(statement("ManageClusterInstances",
                            list({"ec2:TerminateInstances", "ec2:StopInstances", "ec2:StartInstances",
                                  "ec2:CreateTags", "ec2:DeleteTags"}),
                            list({arn + ":*:instance/*"}), equals_own));
  statements.push(statement("Describe",
                            list({"ec2:DescribeInstances", "ec2:DescribeInstanceTypes",
                                  "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups",
                                  "ec2:DescribeKeyPairs", "ec2:DescribeImages"}),
                            Value("*"), Value()));
  Value doc = Value::object();
  doc.set("Version", "2012-10-17");
  doc.set("Statement", std::move(statements));
  return doc.to_json();
}

std::string ensure_head_role(Client& iam, const HeadRoleRequest& request, const EventSink& events,
                             const CancelToken& cancel) {
  return RoleBuilder(iam, request, events, cancel).run();
}

void remove_head_role(Client& iam, const HeadRoleRequest& r, const EventSink& events,
                      const CancelToken& cancel) {
  if (!path_exists(r.marker_path)) return;
  auto get = [&](const char* action, const QueryParams& p) -> std::optional<IamEntity> {
    try {
      return parse_entity(iam.call(action, p, cancel));
    } catch (const Ec2Error& e) {
      if (is_missing(e)) return std::nullopt;
      throw;
    }
  };
  auto quietly = [&](const char* action, const QueryParams& p) {
    try {
      iam.call(action, p, cancel);
    } catch (const Ec2Error& e) {
      if (!is_missing(e)) throw;
    }
  };
  auto ours = [&](const Tags& tags) {
    auto it = tags.find(r.id_tag);
    return it != tags.end() && it->second == r.cluster_id;
  };
  const QueryParams role = {{"RoleName", r.role_name}};
  const QueryParams profile = {{"InstanceProfileName", r.role_name}};
  bool kept = false;
  if (auto p = get("GetInstanceProfile", profile)) {
    if (ours(p->tags)) {
      for (const auto& name : p->role_names) {
        QueryParams q = profile;
        q.emplace_back("RoleName", name);
        quietly("RemoveRoleFromInstanceProfile", q);
      }
      quietly("DeleteInstanceProfile", profile);
      log_event(events, LogLevel::info, "deleted the head's instance profile " + r.role_name);
    } else {
      kept = true;
    }
  }
  if (auto got = get("GetRole", role)) {
    if (ours(got->tags)) {
      QueryParams q = role;
      q.emplace_back("PolicyName", kHeadPolicyName);
      quietly("DeleteRolePolicy", q);
      quietly("DeleteRole", role);
      log_event(events, LogLevel::info, "deleted the head's IAM role " + r.role_name);
    } else {
      kept = true;
    }
  }
  if (kept)
    log_event(events, LogLevel::warning,
         "an IAM role or instance profile named " + r.role_name + " does not carry " + r.id_tag + "=" +
             r.cluster_id + " and was left alone");
  std::remove(r.marker_path.c_str());
}

}  // namespace raycluster::detail::ec2
