// The head's IAM role: what `up` creates so that the autoscaler on the head
// calls EC2 with the least rights it needs, and what a full `down` removes.
//
// IAM is reached with the Query API client of ec2_client.hpp (service "iam",
// version 2010-05-08, signing region us-east-1; cn-north-1 in China),
// at AWS_ENDPOINT_URL_IAM, AWS_ENDPOINT_URL or the profile's `services`
// section as botocore resolves them, else https://iam.amazonaws.com.
//
// What ensure_head_role() makes, each found first and reused when it is
// this cluster's (tagged raycluster-id=<cluster id>):
//   role              raycluster-<cluster>-<first 8 of the id>, trusted by
//                     ec2.amazonaws.com, tagged with the cluster's name and id
//   inline policy     `raycluster-autoscaler` = head_policy_document(); put
//                     again when the role's differs
//   instance profile  of the role's name, holding the role, tagged as it
// A role or profile of that name without the cluster's id tag is never
// changed: Error(conflict). A marker file in the state folder is written
// before the first Create call and removed by remove_head_role(), so a crash
// half-way is cleaned up by `down` as well.
//
// Refusals: when IAM answers AccessDenied (or another authorization error)
// to any call, what this call created is deleted again and Error(auth) says
// which call was refused and what to do instead.
//
// Thread-safety: none; the provider calls these under its bootstrap lock.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "auth/aws_credentials.hpp"
#include "providers/aws/ec2_client.hpp"
#include "providers/common/provider.hpp"
#include "util/event.hpp"

namespace raycluster::detail::ec2 {

inline constexpr std::string_view kIamApiVersion = "2010-05-08";
inline constexpr const char* kHeadPolicyName = "raycluster-autoscaler";

// Every IAM action this file sends (tests check them against botocore's model).
const std::vector<std::string>& iam_actions();

// The IAM endpoint and the region its requests are signed for.
struct IamEndpoint {
  std::string url;
  std::string signing_region;
};
IamEndpoint iam_endpoint(const AwsEnvironment& env, const std::string& region);

// "aws", "aws-cn" or "aws-us-gov" for a region name.
std::string aws_partition(const std::string& region);

// The role (and instance profile) name: "raycluster-" + cluster name
// (shortened to fit IAM's 64 characters, characters IAM refuses as '-') +
// "-" + the first 8 characters of the cluster id.
std::string head_role_name(const std::string& cluster_name, const std::string& cluster_id);

// The trust policy: EC2 instances may assume the role.
std::string ec2_trust_policy();

// The head autoscaler's EC2 rights in `region`, as JSON: launch
// (RunInstances of instances whose request tags carry <id_tag>=<cluster_id>,
// CreateTags only as part of that RunInstances), TerminateInstances,
// StopInstances, StartInstances, CreateTags and DeleteTags only on instances
// tagged <id_tag>=<cluster_id>, and the Describe calls it makes (which IAM
// cannot limit to resources).
std::string head_policy_document(const std::string& region, const std::string& id_tag,
                                 const std::string& cluster_id);

struct HeadRoleRequest {
  std::string role_name;    // also the instance profile's name
  std::string policy;       // the inline policy document (JSON)
  Tags tags;                // put on the role and the profile; must hold id_tag
  std::string id_tag;       // the tag that says "this cluster's"
  std::string cluster_id;   // its value
  std::string marker_path;  // the state folder's marker file
  std::string instead;      // what the user can do instead (ends the refusal message)
};

// Creates or reuses the role, its policy and its instance profile; returns
// the instance profile's name. See the file comment for errors.
std::string ensure_head_role(Client& iam, const HeadRoleRequest& request, const EventSink& events,
                             const CancelToken& cancel);

// Removes what ensure_head_role() made (role out of the profile, inline
// policy, profile, role), only when the marker file is there and only what
// carries the cluster's id tag; then the marker. Without a marker: nothing,
// not even a request.
void remove_head_role(Client& iam, const HeadRoleRequest& request, const EventSink& events,
                      const CancelToken& cancel);

}  // namespace raycluster::detail::ec2
