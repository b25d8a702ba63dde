// AwsProvider's part in the head's IAM role (providers/aws/iam.hpp): made
// before the head is launched, given to the head at launch, removed by a
// full `down` once every instance is ending.
#include <algorithm>
#include <cctype>

#include "providers/aws/aws_provider.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace raycluster::detail::ec2 {
namespace {

// EC2 refuses an instance profile for a few seconds after IAM made it:
// "Value (...) for parameter iamInstanceProfile.name is invalid. Invalid IAM
// Instance Profile name".
bool is_profile_not_yet_visible(const Ec2Error& e) {
  if (e.aws_code() != "InvalidParameterValue") return false;
  std::string m = e.what();
  std::transform(m.begin(), m.end(), m.begin(), [](unsigned char c) { return std::tolower(c); });
  return m.find("iam instance profile") != std::string::npos ||
         m.find("iaminstanceprofile") != std::string::npos;
}

constexpr std::chrono::seconds kProfileWait{90};

}  // namespace

Client& AwsProvider::iam() {
  if (!iam_) {
    const IamEndpoint where = iam_endpoint(to_aws_environment(ctx_.env), region_);
    ClientOptions co;
    co.endpoint = where.url;
    co.region = where.signing_region;
    co.now = ctx_.now;
    co.credentials = credentials_;
    co.service = "iam";
    co.api_version = std::string(kIamApiVersion);
    co.label = "IAM";
    iam_ = std::make_unique<Client>(*retrying_, co);
  }
  return *iam_;
}

HeadRoleRequest AwsProvider::head_role_request() const {
  HeadRoleRequest r;
  r.role_name = head_role_name(spec_.cluster_name, identity_.id);
  r.policy = head_policy_document(region_, tags::cluster_id, identity_.id);
  r.tags = {{tags::cluster_name, spec_.cluster_name}, {tags::cluster_id, identity_.id}};
  r.id_tag = tags::cluster_id;
  r.cluster_id = identity_.id;
  r.marker_path = identity_.state_dir + "/head_role.json";
  r.instead = "Give the head an instance profile of yours (IamInstanceProfile in available_node_types." +
              spec_.head_node_type +
              ".node_config) whose role may run, tag and terminate the cluster's instances, or set "
              "`autoscaler: local` to run the autoscaler only where `raycluster monitor` runs";
  return r;
}

void AwsProvider::prepare_head_identity(const EventSink& events, const CancelToken& cancel) {
  // The head's role has no iam:PassRole: it cannot launch workers with a role.
  for (const auto& type : spec_.node_types)
    if (type.name != spec_.head_node_type && type.node_config.find("IamInstanceProfile") && events) {
      Event e;
      e.kind = EventKind::log;
      e.level = LogLevel::warning;
      e.message = "node type " + type.name + " names an IamInstanceProfile: the head's role may not pass "
                  "roles (iam:PassRole), so the autoscaler on the head cannot launch it; give the head an "
                  "IamInstanceProfile of yours whose role may, or set `autoscaler: local`";
      events(e);
    }
  std::lock_guard<std::mutex> boot(boot_mu_);
  make_dirs(identity_.state_dir, 0700);
  std::string profile = ensure_head_role(iam(), head_role_request(), events, cancel);
  std::lock_guard<std::mutex> lock(mu_);
  head_profile_ = std::move(profile);
}

void AwsProvider::remove_head_identity(const EventSink& events, const CancelToken& cancel) {
  remove_head_role(iam(), head_role_request(), events, cancel);
  std::lock_guard<std::mutex> lock(mu_);
  head_profile_.clear();
}

std::string AwsProvider::head_instance_profile() const {
  std::lock_guard<std::mutex> lock(mu_);
  return head_profile_;
}

std::vector<std::string> AwsProvider::resolved_ssh_cidrs() const {
  std::lock_guard<std::mutex> lock(mu_);
  return ssh_cidrs_;
}

std::string AwsProvider::launch_call(const QueryParams& params, bool new_profile) {
  const auto deadline = ctx_.now() + kProfileWait;
  std::chrono::milliseconds delay(1000);
  for (;;) {
    try {
      return client_->call("RunInstances", params);
    } catch (const Ec2Error& e) {
      if (!new_profile || !is_profile_not_yet_visible(e) || ctx_.now() + delay > deadline) throw;
    }
    if (!ctx_.sleep(delay, {}))
      throw Error(ErrorCode::cancelled, "launch cancelled while EC2 waited for the head's instance profile");
    delay = std::min(delay * 2, std::chrono::milliseconds(10000));
  }
}

}  // namespace raycluster::detail::ec2
