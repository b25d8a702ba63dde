// describe-bench [INSTANCES] [--compact] [--whole | --file | --curl]:
// parse time and peak memory of one DescribeInstances answer with INSTANCES
// instances (default 10,000), each shaped like the EC2 API reference's
// example (network interface, block device, security group, eight tags),
// indented as EC2 sends it (or without the indentation with --compact).
//
// The answer is first written to a temporary file, one instance at a time,
// so the generator never holds it. Then each mode runs in a child process of
// its own (this program again), so that each peak RSS (VmHWM) is its own:
//   --file   the file read in 64 KiB pieces into an InstanceStream
//   --curl   the file served over a loopback TCP socket by a thread of the
//            bench and fetched through the real CurlTransport (inside a
//            RetryingTransport) whose body sink feeds an InstanceStream
//   --whole  the answer read whole into memory, then parse_instances() on
//            it: the answer held as the provider held it before streaming
// With none of them, all three run, in that order. Each prints one JSON line:
// the document size, the peak RSS before and after parsing (VmHWM from
// /proc/self/status), and the best and median time of 5 parses (for --curl:
// fetch and parse; for --whole: the parse only).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "providers/aws/ec2_xml.hpp"
#include "providers/aws/instance_stream.hpp"
#include "http/http.hpp"

namespace {

using raycluster::detail::ec2::InstancePage;
using raycluster::detail::ec2::InstanceStream;

constexpr std::size_t kPiece = 64 * 1024;
constexpr int kRuns = 5;

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

// The process's peak resident set (VmHWM), in KiB. Unlike getrusage's
// ru_maxrss it is not carried over an exec, so each mode's child reports
// only its own peak.
long peak_rss_kb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::atol(line.c_str() + 6);
  return -1;
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

// Writes the answer to `path` one piece at a time; returns its size.
std::size_t write_document(const std::string& path, int count, bool squeeze) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) {
    std::perror(path.c_str());
    std::exit(2);
  }
  std::size_t bytes = 0;
  auto put = [&](const std::string& text) {
    std::string t = squeeze ? compact(text) : text;
    bytes += std::fwrite(t.data(), 1, t.size(), f);
  };
  put("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<DescribeInstancesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\n"
      "    <requestId>8f7724cf-496f-496e-8fe3-example</requestId>\n    <reservationSet>");
  // Reservations of 10 instances, as batched launches make them.
  for (int r = 0; r < count; r += 10) {
    put("\n        <item>\n            <reservationId>r-0123456789abcdef0</reservationId>\n"
        "            <ownerId>123456789012</ownerId>\n            <groupSet/>\n            <instancesSet>");
    for (int i = r; i < std::min(count, r + 10); ++i) put(instance(i));
    put("\n            </instancesSet>\n        </item>");
  }
  put("\n    </reservationSet>\n</DescribeInstancesResponse>\n");
  std::fclose(f);
  return bytes;
}

// Reads the file in 64 KiB pieces, handing each to `piece`.
void read_pieces(const std::string& path, const std::function<void(std::string_view)>& piece) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) {
    std::perror(path.c_str());
    std::exit(2);
  }
  std::vector<char> buf(kPiece);
  std::size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0) piece(std::string_view(buf.data(), n));
  std::fclose(f);
}

// Serves the file to every request on 127.0.0.1 (one request per
// connection).
class FileServer {
 public:
  explicit FileServer(std::string path) : path_(std::move(path)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 4) != 0) {
      std::perror("bind/listen");
      std::exit(2);
    }
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~FileServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/"; }

 private:
  void serve() {
    while (!stop_) {
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      std::string head;
      char tmp[4096];
      while (head.find("\r\n\r\n") == std::string::npos) {
        ssize_t got = ::recv(c, tmp, sizeof tmp, 0);
        if (got <= 0) break;
        head.append(tmp, static_cast<std::size_t>(got));
      }
      // sendfile: the server's own copying stays out of the client's figure.
      int file = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
      struct stat st {};
      ::fstat(file, &st);
      std::string out = "HTTP/1.1 200 OK\r\nContent-Type: text/xml;charset=UTF-8\r\nContent-Length: " +
                        std::to_string(st.st_size) + "\r\nConnection: close\r\n\r\n";
      bool ok = send_all(c, out.data(), out.size());
      off_t offset = 0;
      while (ok && offset < st.st_size)
        ok = ::sendfile(c, file, &offset, static_cast<std::size_t>(st.st_size - offset)) > 0;
      ::close(file);
      ::close(c);
    }
  }
  static bool send_all(int c, const char* p, std::size_t n) {
    while (n > 0) {
      ssize_t sent = ::send(c, p, n, MSG_NOSIGNAL);
      if (sent <= 0) return false;
      p += sent;
      n -= static_cast<std::size_t>(sent);
    }
    return true;
  }

  std::string path_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

struct Result {
  std::size_t parsed = 0;
  long rss_before = 0, rss_after = 0;
  std::vector<double> ms;
};

// kRuns parses by `parse_once` (which returns the page), timed one by one,
// with the peak RSS before the first and after the last.
template <typename F>
Result measure(F&& parse_once) {
  Result r;
  r.rss_before = peak_rss_kb();
  for (int run = 0; run < kRuns; ++run) {
    auto t0 = std::chrono::steady_clock::now();
    InstancePage page = parse_once();
    r.ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    r.parsed = page.instances.size();
  }
  r.rss_after = peak_rss_kb();
  return r;
}

Result run_file(const std::string& path) {
  return measure([&] {
    InstanceStream stream;
    read_pieces(path, [&](std::string_view p) { stream.feed(p); });
    return stream.finish();
  });
}

Result run_curl(const std::string& path) {
  FileServer server(path);
  raycluster::CurlTransportOptions o;
  o.max_response_bytes = std::size_t{1} << 30;
  auto curl = raycluster::make_curl_transport(o);
  raycluster::RetryingTransport transport(*curl, raycluster::RetryPolicy{});
  return measure([&] {
    InstanceStream stream;
    raycluster::HttpRequest req;
    req.url = server.url();
    req.body_sink = stream.sink();
    auto resp = transport.send(req);
    if (resp.status != 200 || !resp.body_streamed) {
      std::fprintf(stderr, "HTTP %d\n", resp.status);
      std::exit(1);
    }
    return stream.finish();
  });
}

Result run_whole(const std::string& path) {
  std::string doc;
  {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    std::fseek(f, 0, SEEK_END);
    doc.resize(static_cast<std::size_t>(std::ftell(f)));  // exact: no doubling of a growing string
    std::fseek(f, 0, SEEK_SET);
    if (std::fread(doc.data(), 1, doc.size(), f) != doc.size()) std::exit(2);
    std::fclose(f);
  }
  return measure([&] { return raycluster::detail::ec2::parse_instances(doc); });
}

}  // namespace

int main(int argc, char** argv) {
  int count = 10000;
  bool squeeze = false;
  std::string mode, doc_path;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--compact")
      squeeze = true;
    else if (a == "--whole" || a == "--file" || a == "--curl")
      mode = a.substr(2);
    else if (a.rfind("--doc=", 0) == 0)
      doc_path = a.substr(6);
    else
      count = std::atoi(a.c_str());
  }
  if (doc_path.empty()) {
    // The parent: writes the document, then runs each mode in a fresh process.
    const char* tmp = std::getenv("TMPDIR");
    std::string path = std::string(tmp && *tmp ? tmp : "/tmp") + "/describe-bench-XXXXXX";
    int fd = ::mkstemp(path.data());
    if (fd < 0) {
      std::perror("mkstemp");
      return 2;
    }
    ::close(fd);
    write_document(path, count, squeeze);
    std::vector<std::string> modes = mode.empty() ? std::vector<std::string>{"file", "curl", "whole"}
                                                  : std::vector<std::string>{mode};
    int status = 0;
    for (const auto& m : modes) {
      std::fflush(stdout);
      pid_t pid = ::fork();
      if (pid == 0) {
        std::string n = std::to_string(count), mm = "--" + m, d = "--doc=" + path;
        std::vector<char*> args = {argv[0], n.data(), mm.data(), d.data()};
        if (squeeze) args.push_back(const_cast<char*>("--compact"));
        args.push_back(nullptr);
        ::execv("/proc/self/exe", args.data());
        std::perror("execv");
        std::_Exit(127);
      }
      int ws = 0;
      ::waitpid(pid, &ws, 0);
      if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0) status = 1;
    }
    std::remove(path.c_str());
    return status;
  }
  std::size_t doc_bytes = 0;
  {
    std::FILE* f = std::fopen(doc_path.c_str(), "rb");
    if (!f) return 2;
    std::fseek(f, 0, SEEK_END);
    doc_bytes = static_cast<std::size_t>(std::ftell(f));
    std::fclose(f);
  }
  Result r = mode == "curl" ? run_curl(doc_path) : mode == "whole" ? run_whole(doc_path) : run_file(doc_path);
  std::sort(r.ms.begin(), r.ms.end());
  std::printf(
      "{\"bench\": \"describe-instances-parse\", \"mode\": \"%s\", \"instances\": %zu, \"indented\": %s, "
      "\"document_bytes\": %zu, \"piece_bytes\": %zu, \"parse_ms_best\": %.2f, \"parse_ms_median\": %.2f, "
      "\"peak_rss_mb_before_parse\": %.1f, \"peak_rss_mb_after_parse\": %.1f}\n",
      mode.empty() ? "file" : mode.c_str(), r.parsed, squeeze ? "false" : "true", doc_bytes,
      mode == "whole" ? doc_bytes : kPiece, r.ms.front(), r.ms[r.ms.size() / 2], r.rss_before / 1024.0,
      r.rss_after / 1024.0);
  return r.parsed == static_cast<std::size_t>(count) ? 0 : 1;
}
