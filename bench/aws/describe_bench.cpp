// describe-bench [INSTANCES] [--compact]: parse time and peak memory of one
// DescribeInstances answer with INSTANCES instances (default 10,000), each
// shaped like the EC2 API reference's example (network interface, block
// device, security group, eight tags), indented as EC2 sends it (or without
// the indentation with --compact).
// Prints one JSON line: the document size, peak RSS before and after the
// first parse (in place, on the only copy), and the best and median time of
// 5 parses (each of a fresh copy).
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "providers/aws/ec2_xml.hpp"

namespace {

std::string instance(int n) {
  char id[32], ip[32], pub[32];
  std::snprintf(id, sizeof id, "i-%017x", n);
  std::snprintf(ip, sizeof ip, "10.%d.%d.%d", (n >> 16) & 255, (n >> 8) & 255, n & 255);
  std::snprintf(pub, sizeof pub, "54.%d.%d.%d", (n >> 16) & 255, (n >> 8) & 255, n & 255);
  std::string x = R"(
                <item>
                    <instanceId>)" + std::string(id) + R"(</instanceId>
                    <imageId>ami-0abcdef1234567890</imageId>
                    <instanceState>
                        <code>16</code>
                        <name>running</name>
                    </instanceState>
                    <privateDnsName>ip-)" + std::string(ip) + R"(.ec2.internal</privateDnsName>
                    <dnsName>ec2-)" + std::string(pub) + R"(.compute-1.amazonaws.com</dnsName>
                    <reason/>
                    <keyName>raycluster_bench_us-east-1</keyName>
                    <amiLaunchIndex>0</amiLaunchIndex>
                    <productCodes/>
                    <instanceType>m5.large</instanceType>
                    <launchTime>2026-01-01T00:00:00.000Z</launchTime>
                    <placement>
                        <availabilityZone>us-east-1a</availabilityZone>
                        <groupName/>
                        <tenancy>default</tenancy>
                    </placement>
                    <monitoring>
                        <state>disabled</state>
                    </monitoring>
                    <subnetId>subnet-0123456789abcdef0</subnetId>
                    <vpcId>vpc-0123456789abcdef0</vpcId>
                    <privateIpAddress>)" + std::string(ip) + R"(</privateIpAddress>
                    <ipAddress>)" + std::string(pub) + R"(</ipAddress>
                    <sourceDestCheck>true</sourceDestCheck>
                    <groupSet>
                        <item>
                            <groupId>sg-0123456789abcdef0</groupId>
                            <groupName>raycluster-bench</groupName>
                        </item>
                    </groupSet>
                    <architecture>x86_64</architecture>
                    <rootDeviceType>ebs</rootDeviceType>
                    <rootDeviceName>/dev/sda1</rootDeviceName>
                    <blockDeviceMapping>
                        <item>
                            <deviceName>/dev/sda1</deviceName>
                            <ebs>
                                <volumeId>vol-0123456789abcdef0</volumeId>
                                <status>attached</status>
                                <attachTime>2026-01-01T00:00:01.000Z</attachTime>
                                <deleteOnTermination>true</deleteOnTermination>
                            </ebs>
                        </item>
                    </blockDeviceMapping>
                    <virtualizationType>hvm</virtualizationType>
                    <clientToken>rc0123456789abcdef0123456789abcdef-0123456789abcdef</clientToken>
                    <tagSet>
                        <item><key>ray-cluster-name</key><value>bench</value></item>
                        <item><key>raycluster-id</key><value>c0ffee00c0ffee00</value></item>
                        <item><key>ray-node-type</key><value>worker</value></item>
                        <item><key>ray-user-node-type</key><value>ray.worker.default</value></item>
                        <item><key>ray-node-status</key><value>up-to-date</value></item>
                        <item><key>ray-launch-config</key><value>0123456789abcdef0123456789abcdef01234567</value></item>
                        <item><key>ray-runtime-config</key><value>0123456789abcdef0123456789abcdef01234567</value></item>
                        <item><key>Name</key><value>ray-bench-worker</value></item>
                    </tagSet>
                    <hypervisor>xen</hypervisor>
                    <networkInterfaceSet>
                        <item>
                            <networkInterfaceId>eni-0123456789abcdef0</networkInterfaceId>
                            <subnetId>subnet-0123456789abcdef0</subnetId>
                            <vpcId>vpc-0123456789abcdef0</vpcId>
                            <description/>
                            <ownerId>123456789012</ownerId>
                            <status>in-use</status>
                            <macAddress>02:00:00:00:00:01</macAddress>
                            <privateIpAddress>)" + std::string(ip) + R"(</privateIpAddress>
                            <sourceDestCheck>true</sourceDestCheck>
                            <groupSet>
                                <item>
                                    <groupId>sg-0123456789abcdef0</groupId>
                                    <groupName>raycluster-bench</groupName>
                                </item>
                            </groupSet>
                            <attachment>
                                <attachmentId>eni-attach-0123456789abcdef0</attachmentId>
                                <deviceIndex>0</deviceIndex>
                                <status>attached</status>
                                <attachTime>2026-01-01T00:00:00.000Z</attachTime>
                                <deleteOnTermination>true</deleteOnTermination>
                            </attachment>
                            <association>
                                <publicIp>)" + std::string(pub) + R"(</publicIp>
                                <ipOwnerId>amazon</ipOwnerId>
                            </association>
                            <privateIpAddressesSet>
                                <item>
                                    <privateIpAddress>)" + std::string(ip) + R"(</privateIpAddress>
                                    <primary>true</primary>
                                </item>
                            </privateIpAddressesSet>
                            <ipv6AddressesSet/>
                            <interfaceType>interface</interfaceType>
                        </item>
                    </networkInterfaceSet>
                    <ebsOptimized>false</ebsOptimized>
                    <enaSupport>true</enaSupport>
                    <cpuOptions>
                        <coreCount>1</coreCount>
                        <threadsPerCore>2</threadsPerCore>
                    </cpuOptions>
                    <metadataOptions>
                        <state>applied</state>
                        <httpTokens>required</httpTokens>
                        <httpPutResponseHopLimit>2</httpPutResponseHopLimit>
                        <httpEndpoint>enabled</httpEndpoint>
                    </metadataOptions>
                </item>)";
  return x;
}

long peak_rss_kb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

std::string compact(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  bool line_start = false;
  for (char c : s) {
    if (c == '\n') {
      line_start = true;
      continue;
    }
    if (line_start && c == ' ') continue;
    line_start = false;
    out += c;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  int count = 10000;
  bool squeeze = false;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--compact")
      squeeze = true;
    else
      count = std::atoi(argv[i]);
  }
  std::string doc =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<DescribeInstancesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\n"
      "    <requestId>8f7724cf-496f-496e-8fe3-example</requestId>\n    <reservationSet>";
  // Reserved up front, so the peak before parsing is the document, not the
  // doubling of a growing string.
  doc.reserve(static_cast<std::size_t>(count) * (instance(0).size() + 400) + 4096);
  // Reservations of 10 instances, as batched launches make them.
  auto piece = [&](const std::string& text) { return squeeze ? compact(text) : text; };
  for (int r = 0; r < count; r += 10) {
    doc += piece("\n        <item>\n            <reservationId>r-0123456789abcdef0</reservationId>\n"
                 "            <ownerId>123456789012</ownerId>\n            <groupSet/>\n            <instancesSet>");
    for (int i = r; i < std::min(count, r + 10); ++i) doc += piece(instance(i));
    doc += piece("\n            </instancesSet>\n        </item>");
  }
  doc += piece("\n    </reservationSet>\n</DescribeInstancesResponse>\n");
  const std::size_t doc_bytes = doc.size();
  long rss_before = peak_rss_kb();
  std::size_t parsed = 0;
  {
    // The memory figure: the answer as the client holds it, parsed in place.
    std::string body = std::move(doc);
    auto page = raycluster::detail::ec2::parse_instances(body);
    parsed = page.instances.size();
  }
  long rss_after = peak_rss_kb();
  // Timing runs regenerate the document outside the timed region.
  std::vector<double> ms;
  for (int run = 0; run < 5; ++run) {
    std::string fresh = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                        "<DescribeInstancesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\n"
                        "    <reservationSet>";
    for (int r = 0; r < count; r += 10) {
      fresh += "\n        <item>\n            <reservationId>r-0</reservationId>\n            <instancesSet>";
      for (int i = r; i < std::min(count, r + 10); ++i) fresh += instance(i);
      fresh += "\n            </instancesSet>\n        </item>";
    }
    fresh += "\n    </reservationSet>\n</DescribeInstancesResponse>\n";
    if (squeeze) fresh = compact(fresh);
    std::string body = std::move(fresh);
    auto t0 = std::chrono::steady_clock::now();
    auto page = raycluster::detail::ec2::parse_instances(body);
    auto t1 = std::chrono::steady_clock::now();
    parsed = page.instances.size();
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  std::printf(
      "{\"bench\": \"describe-instances-parse\", \"instances\": %zu, \"indented\": %s, "
      "\"document_bytes\": %zu, \"parse_ms_best\": %.2f, \"parse_ms_median\": %.2f, "
      "\"peak_rss_mb_before_parse\": %.1f, \"peak_rss_mb_after_parse\": %.1f}\n",
      parsed, squeeze ? "false" : "true", doc_bytes, ms.front(), ms[ms.size() / 2],
      rss_before / 1024.0, rss_after / 1024.0);
  return parsed == static_cast<std::size_t>(count) ? 0 : 1;
}
