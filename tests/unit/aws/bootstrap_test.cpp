#include <doctest/doctest.h>
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "harness.hpp"
#include "providers/common/base64.hpp"
#include "providers/common/ssh_key.hpp"
#include "util/error.hpp"

using namespace raycluster;
using namespace raycluster::detail;
using namespace raycluster::detail::ec2;
using rctest::AwsHarness;
using rctest::FakeEc2;

namespace {

std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p);
  char buf[4096];
  std::size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  REQUIRE(pclose(p) == 0);
  return out;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// "type base64" of an OpenSSH public key line.
std::string fields(const std::string& line) {
  std::istringstream in(line);
  std::string a, b;
  in >> a >> b;
  return a + " " + b;
}

}  // namespace

TEST_CASE("aws bootstrap: a fresh account gets a key pair, a security group and rules") {
  AwsHarness h;
  h.bootstrap();
  CHECK(h.ec2.count("CreateKeyPair") == 1);
  CHECK(h.ec2.of("CreateKeyPair")[0].at("KeyName") == "raycluster_t_us-east-1");
  std::string key = (h.dir / "t" / "raycluster_t_us-east-1.pem").string();
  CHECK(h.provider->key_path() == key);
  struct stat st {};
  REQUIRE(stat(key.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(slurp(key).find("BEGIN RSA PRIVATE KEY") != std::string::npos);

  REQUIRE(h.ec2.count("CreateSecurityGroup") == 1);
  auto sg = h.ec2.of("CreateSecurityGroup")[0];
  CHECK(sg.at("GroupName") == "raycluster-t");
  CHECK(sg.at("VpcId") == "vpc-1");
  CHECK(sg.at("TagSpecification.1.ResourceType") == "security-group");
  REQUIRE(h.ec2.count("AuthorizeSecurityGroupIngress") == 1);
  auto rules = h.ec2.of("AuthorizeSecurityGroupIngress")[0];
  CHECK(rules.at("GroupId") == h.provider->security_group_id());
  CHECK(rules.at("IpPermissions.1.IpProtocol") == "-1");
  CHECK(rules.at("IpPermissions.1.Groups.1.GroupId") == h.provider->security_group_id());
  CHECK(rules.at("IpPermissions.2.IpProtocol") == "tcp");
  CHECK(rules.at("IpPermissions.2.FromPort") == "22");
  CHECK(rules.at("IpPermissions.2.ToPort") == "22");
  // The caller's address from checkip, and nothing wider.
  CHECK(rules.at("IpPermissions.2.IpRanges.1.CidrIp") == "203.0.113.7/32");
  CHECK_FALSE(rules.has("IpPermissions.3.IpProtocol"));
  CHECK_FALSE(h.any_param_equals("0.0.0.0/0"));
  // checkip.amazonaws.com is asked (the fake transport answers), also with
  // an endpoint override: the product knows no emulator's paths.
  CHECK(h.ec2.count("GET https://checkip.amazonaws.com") == 1);
  // No dashboard port anywhere.
  CHECK_FALSE(h.any_param_equals("8265"));
}

TEST_CASE("aws bootstrap: a second run reuses the key pair, group and rules") {
  AwsHarness h;
  h.bootstrap();
  h.ec2.calls.clear();
  h.make();  // a new process, the same state folder
  h.bootstrap();
  CHECK(h.ec2.count("CreateKeyPair") == 0);
  CHECK(h.ec2.count("ImportKeyPair") == 0);
  CHECK(h.ec2.count("CreateSecurityGroup") == 0);
  CHECK(h.ec2.count("AuthorizeSecurityGroupIngress") == 0);
  CHECK(h.provider->key_name() == "raycluster_t_us-east-1");
}

TEST_CASE("aws bootstrap: only the missing rules are added") {
  AwsHarness h;
  h.ec2.groups.push_back({"sg-77", "raycluster-t", "vpc-1", {"sg-77"}, {{22, "198.51.100.1/32"}}});
  h.bootstrap();
  CHECK(h.ec2.count("CreateSecurityGroup") == 0);
  auto rules = h.ec2.of("AuthorizeSecurityGroupIngress");
  REQUIRE(rules.size() == 1);
  CHECK(rules[0].at("IpPermissions.1.IpProtocol") == "tcp");
  CHECK(rules[0].at("IpPermissions.1.IpRanges.1.CidrIp") == "203.0.113.7/32");
  CHECK_FALSE(rules[0].has("IpPermissions.2.IpProtocol"));
  CHECK(h.provider->security_group_id() == "sg-77");
}

TEST_CASE("aws bootstrap: the SSH sources are ssh_allowed_cidrs when given, on auth.ssh_port") {
  std::string yaml = rctest::kBaseConfig;
  yaml.replace(yaml.find("  cache_stopped"), 0, "  ssh_allowed_cidrs: [192.0.2.0/24, 198.51.100.7/32]\n");
  yaml.replace(yaml.find("auth: {ssh_user: ubuntu}"), 24, "auth: {ssh_user: ubuntu, ssh_port: 2222}");
  AwsHarness h(yaml);
  h.bootstrap();
  auto rules = h.ec2.of("AuthorizeSecurityGroupIngress").at(0);
  CHECK(rules.at("IpPermissions.2.FromPort") == "2222");
  CHECK(rules.at("IpPermissions.2.IpRanges.1.CidrIp") == "192.0.2.0/24");
  CHECK(rules.at("IpPermissions.2.IpRanges.2.CidrIp") == "198.51.100.7/32");
  for (const auto& c : h.ec2.calls) CHECK(c.action.rfind("GET ", 0) != 0);  // no checkip
}

TEST_CASE("aws bootstrap: checkip URL from RAYCLUSTER_CHECKIP_URL; a bad answer is an error") {
  AwsHarness h;
  h.env["RAYCLUSTER_CHECKIP_URL"] = "http://127.0.0.1:7/ip";
  h.make();
  h.ec2.checkip = "<html>oops</html>";
  try {
    h.bootstrap();
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::unavailable);
    CHECK(std::string(e.what()).find("ssh_allowed_cidrs") != std::string::npos);
  }
  CHECK(h.ec2.count("GET http://127.0.0.1:7/ip") == 1);
  CHECK(h.ec2.count("AuthorizeSecurityGroupIngress") == 0);
  h.ec2.checkip = "0.0.0.0\n";
  CHECK_THROWS_AS(h.bootstrap(), Error);
  CHECK_FALSE(h.any_param_equals("0.0.0.0/0"));
}

TEST_CASE("aws bootstrap: given security groups are used and none is created") {
  std::string yaml = rctest::kBaseConfig;
  yaml.replace(yaml.find("  cache_stopped"), 0, "  security_group_ids: [sg-given]\n");
  AwsHarness h(yaml);
  h.bootstrap();
  CHECK(h.ec2.count("CreateSecurityGroup") == 0);
  CHECK(h.ec2.count("DescribeSecurityGroups") == 0);
  h.provider->create(h.request("worker", 1, "t"));
  CHECK(h.ec2.of("RunInstances").at(0).at("SecurityGroupId.1") == "sg-given");
}

TEST_CASE("aws bootstrap: the configured private key's public half is imported once") {
  AwsHarness h;
  for (const char* format : {"", "-m PEM"}) {
    CAPTURE(format);
    std::string key = (h.dir / ("id_" + std::string(*format ? "pem" : "openssh"))).string();
    run(std::string("ssh-keygen -q -t rsa -b 2048 -N '' ") + format + " -f " + key + " >/dev/null");
    std::string want = fields(run("ssh-keygen -y -f " + key));
    h.spec.auth.ssh_private_key = key;
    h.spec.provider.key_name = std::string("mykey-") + (*format ? "pem" : "openssh");
    h.make();
    h.bootstrap();
    auto imports = h.ec2.of("ImportKeyPair");
    REQUIRE(!imports.empty());
    CHECK(imports.back().at("KeyName") == h.spec.provider.key_name);
    auto line = base64_decode(imports.back().at("PublicKeyMaterial"));
    REQUIRE(line);
    CHECK(fields(*line) == want);
    CHECK(h.provider->key_path() == key);
    // Again: found, not imported twice.
    auto before = h.ec2.count("ImportKeyPair");
    h.make();
    h.bootstrap();
    CHECK(h.ec2.count("ImportKeyPair") == before);
  }
  CHECK(h.ec2.count("CreateKeyPair") == 0);
}

TEST_CASE("aws bootstrap: a key pair of that name with another public key is refused") {
  AwsHarness h;
  std::string key = (h.dir / "id_ed").string();
  run("ssh-keygen -q -t ed25519 -N '' -f " + key + " >/dev/null");
  h.spec.auth.ssh_private_key = key;
  h.ec2.key_pairs["raycluster_t_us-east-1"] = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOtherKeyOtherKeyOtherKeyOtherKeyOtherKey0 other";
  h.make();
  try {
    h.bootstrap();
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::config);
    CHECK(std::string(e.what()).find("another public key") != std::string::npos);
  }
}

TEST_CASE("aws bootstrap: an Ed25519 key in PEM (PKCS#8) gives the key OpenSSL reports") {
  AwsHarness h;
  std::string key = (h.dir / "ed_pem").string();
  run("openssl genpkey -algorithm ed25519 -out " + key + " 2>/dev/null");
  // The raw public key: the last 32 bytes of its DER SubjectPublicKeyInfo.
  std::string der = run("openssl pkey -in " + key + " -pubout -outform DER 2>/dev/null");
  REQUIRE(der.size() >= 32);
  std::string blob = std::string("\0\0\0\x0bssh-ed25519\0\0\0\x20", 19) + der.substr(der.size() - 32);
  CHECK(ssh_public_key(slurp(key), key) == "ssh-ed25519 " + base64_encode(blob));
  CHECK_THROWS_AS(ssh_public_key("garbage", "x"), Error);
}

TEST_CASE("aws bootstrap: an EC2 key pair without its private key here is skipped for a new name") {
  AwsHarness h;
  h.ec2.key_pairs["raycluster_t_us-east-1"] = "";
  h.bootstrap();
  CHECK(h.provider->key_name() == "raycluster_t_us-east-1_2");
  CHECK(h.ec2.count("DeleteKeyPair") == 0);
}

TEST_CASE("aws bootstrap: a key pair made by a run whose answers were all lost is made again, not skipped") {
  AwsHarness h;
  // EC2 makes the key pair; every answer is lost on the way back, until the
  // retries run out and bootstrap fails. The private key went with them.
  h.ec2.handlers["CreateKeyPair"] = [&h](const rctest::Ec2Call& c) -> HttpResponse {
    h.ec2.key_pairs[c.at("KeyName")] = "";
    throw Error(ErrorCode::unavailable, "connection reset by peer", true);
  };
  CHECK_THROWS_AS(h.bootstrap(), Error);
  CHECK(h.ec2.key_pairs.size() == 1);
  h.ec2.handlers.clear();
  h.make();  // the next run, the same state folder
  h.bootstrap();
  // The key pair this folder asked for is replaced, not left behind for a
  // new name (ten such runs used to leave no name to take).
  CHECK(h.provider->key_name() == "raycluster_t_us-east-1");
  CHECK(h.ec2.key_pairs.size() == 1);
  CHECK(h.ec2.count("DeleteKeyPair") == 1);
  std::string key = (h.dir / "t" / "raycluster_t_us-east-1.pem").string();
  CHECK(h.provider->key_path() == key);
  CHECK(slurp(key).find("BEGIN RSA PRIVATE KEY") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(key + ".creating"));
}

TEST_CASE("aws bootstrap: no default subnets is a clear error") {
  AwsHarness h;
  for (auto& s : h.ec2.subnets) s.default_for_az = false;
  try {
    h.bootstrap();
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::not_found);
    CHECK(std::string(e.what()).find("SubnetIds") != std::string::npos);
  }
}

TEST_CASE("aws bootstrap: running instances of another cluster id are warned about") {
  AwsHarness h;
  h.ec2.add(h.launch_tags("head", NodeKind::head, "01d0000000000000"));
  h.bootstrap();
  bool warned = false;
  for (const auto& e : h.events)
    if (e.level == LogLevel::warning && e.message.find("01d0000000000000") != std::string::npos) warned = true;
  CHECK(warned);
}
