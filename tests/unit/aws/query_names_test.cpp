#include <doctest/doctest.h>

#include <map>

#include "providers/aws/ec2_client.hpp"
#include "providers/aws/query_names.hpp"
#include "util/error.hpp"
#include "util/value.hpp"

using namespace raycluster;
using namespace raycluster::detail::ec2;

namespace {

std::map<std::string, std::string> encode(const std::string& json,
                                          const std::vector<std::string>& skip = {}) {
  QueryParams p;
  encode_node_config(Value::parse_json(json), "available_node_types.w.node_config", skip, p);
  return {p.begin(), p.end()};
}

std::string error_of(const std::string& json) {
  try {
    encode(json);
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::config);
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("query names: boto3 member names become RunInstances' Query names") {
  auto p = encode(R"({
    "InstanceType": "m5.large",
    "BlockDeviceMappings": [
      {"DeviceName": "/dev/sda1", "Ebs": {"VolumeSize": 200, "VolumeType": "gp3", "DeleteOnTermination": true}},
      {"DeviceName": "/dev/sdb", "VirtualName": "ephemeral0"}],
    "SecurityGroupIds": ["sg-1", "sg-2"],
    "IamInstanceProfile": {"Arn": "arn:aws:iam::1:instance-profile/ray"},
    "InstanceMarketOptions": {"MarketType": "spot", "SpotOptions": {"MaxPrice": "0.5"}},
    "NetworkInterfaces": [{"DeviceIndex": 0, "AssociatePublicIpAddress": false, "Groups": ["sg-9"]}],
    "TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "team", "Value": "ml"}]}],
    "Placement": {"AvailabilityZone": "us-east-1a"},
    "LaunchTemplate": {"LaunchTemplateName": "t", "Version": 2},
    "MetadataOptions": {"HttpTokens": "required"},
    "UserData": "#!/bin/sh\necho hi\n"
  })");
  CHECK(p.at("InstanceType") == "m5.large");
  CHECK(p.at("BlockDeviceMapping.1.DeviceName") == "/dev/sda1");
  CHECK(p.at("BlockDeviceMapping.1.Ebs.VolumeSize") == "200");
  CHECK(p.at("BlockDeviceMapping.1.Ebs.VolumeType") == "gp3");
  CHECK(p.at("BlockDeviceMapping.1.Ebs.DeleteOnTermination") == "true");
  CHECK(p.at("BlockDeviceMapping.2.VirtualName") == "ephemeral0");
  CHECK(p.at("SecurityGroupId.1") == "sg-1");
  CHECK(p.at("SecurityGroupId.2") == "sg-2");
  CHECK(p.at("IamInstanceProfile.Arn") == "arn:aws:iam::1:instance-profile/ray");
  CHECK(p.at("InstanceMarketOptions.MarketType") == "spot");
  CHECK(p.at("InstanceMarketOptions.SpotOptions.MaxPrice") == "0.5");
  CHECK(p.at("NetworkInterface.1.DeviceIndex") == "0");
  CHECK(p.at("NetworkInterface.1.AssociatePublicIpAddress") == "false");
  CHECK(p.at("NetworkInterface.1.SecurityGroupId.1") == "sg-9");
  CHECK(p.at("TagSpecification.1.ResourceType") == "instance");
  CHECK(p.at("TagSpecification.1.Tag.1.Key") == "team");
  CHECK(p.at("TagSpecification.1.Tag.1.Value") == "ml");
  CHECK(p.at("Placement.AvailabilityZone") == "us-east-1a");
  CHECK(p.at("LaunchTemplate.Version") == "2");  // YAML's number, the API's string
  CHECK(p.at("MetadataOptions.HttpTokens") == "required");
  CHECK(p.at("UserData") == "IyEvYmluL3NoCmVjaG8gaGkK");  // base64, as boto3 sends it
}

TEST_CASE("query names: keys the caller handles are skipped") {
  auto p = encode(R"({"InstanceType": "m5.large", "SubnetIds": ["subnet-1"]})", {"SubnetIds"});
  CHECK(p.size() == 1);
}

TEST_CASE("query names: an unknown key is an error naming its path, with a guess") {
  auto msg = error_of(R"({"BlockDeviceMappings": [{"DeviceName": "/dev/sda1", "Ebs": {"VolumSize": 1}}]})");
  CHECK(msg.find("available_node_types.w.node_config.BlockDeviceMappings[0].Ebs.VolumSize") !=
        std::string::npos);
  CHECK(msg.find("did you mean VolumeSize?") != std::string::npos);
  msg = error_of(R"({"SubnetIds": ["subnet-1"]})");
  CHECK(msg.find("node_config.SubnetIds") != std::string::npos);
}

TEST_CASE("query names: values of the wrong type are errors naming their path") {
  CHECK(error_of(R"({"MinCount": "many"})").find("node_config.MinCount: expected an integer") !=
        std::string::npos);
  CHECK(error_of(R"({"EbsOptimized": "yes"})").find("EbsOptimized: expected true or false") !=
        std::string::npos);
  CHECK(error_of(R"({"SecurityGroupIds": "sg-1"})").find("SecurityGroupIds: expected a list") !=
        std::string::npos);
  CHECK(error_of(R"({"Placement": ["x"]})").find("Placement: expected a mapping") != std::string::npos);
}

TEST_CASE("query names: the table is sorted and consistent") {
  CHECK(std::string(kQueryShapes[kRunInstancesRequest].name) == "RunInstancesRequest");
  for (std::size_t i = 0; i < kQueryShapeCount; ++i) {
    const auto& s = kQueryShapes[i];
    if (s.kind == QueryKind::list) CHECK(s.item >= 0);
    for (int m = 1; m < s.member_count; ++m)
      CHECK(std::string(kQueryMembers[s.first_member + m - 1].name) <
            std::string(kQueryMembers[s.first_member + m].name));
  }
  const QueryMember* m = find_member(kRunInstancesRequest, "NetworkInterfaces");
  REQUIRE(m);
  CHECK(std::string(m->query_name) == "NetworkInterface");
  CHECK(find_member(kRunInstancesRequest, "Nope") == nullptr);
}

TEST_CASE("form body: form encoding (as Python's urlencode) after Action and Version") {
  // Expected bytes as urllib.parse.urlencode writes them: space as '+',
  // only A-Z a-z 0-9 - . _ ~ kept, UTF-8 bytes %XX.
  QueryParams p = {{"Filter.1.Name", "tag:ray-cluster-name"},
                   {"Filter.1.Value.1", "a b/c~d+e&f=g"},
                   {"Description", "SSH from the operator, all traffic \xc3\xa9"}};
  CHECK(form_body("DescribeInstances", p) ==
        "Action=DescribeInstances&Version=2016-11-15&Filter.1.Name=tag%3Aray-cluster-name"
        "&Filter.1.Value.1=a+b%2Fc~d%2Be%26f%3Dg"
        "&Description=SSH+from+the+operator%2C+all+traffic+%C3%A9");
}
