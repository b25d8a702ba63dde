// A fake EC2 behind the HttpTransport interface: records every request and
// answers with XML shaped like the EC2 API reference's examples, from a
// small in-memory state (instances, subnets, groups, key pairs, images).
// Tests change the state, add faults, or replace a handler per action.
// 2xx answers go to a request's body sink in small pieces, as curl's would.
#pragma once

#include <algorithm>
#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "providers/common/base64.hpp"
#include "util/error.hpp"
#include "http/http.hpp"
#include "auth/sigv4.hpp"

namespace rctest {

using raycluster::CancelToken;
using raycluster::HttpRequest;
using raycluster::HttpResponse;

struct Ec2Call {
  std::string action;
  std::map<std::string, std::string> params;  // decoded
  HttpRequest request;

  const std::string& at(const std::string& key) const {
    static const std::string none;
    auto it = params.find(key);
    return it == params.end() ? none : it->second;
  }
  bool has(const std::string& key) const { return params.count(key) > 0; }
  // Values of prefix.1, prefix.2, ... in order.
  std::vector<std::string> list(const std::string& prefix) const {
    std::vector<std::string> out;
    for (int i = 1;; ++i) {
      auto it = params.find(prefix + "." + std::to_string(i));
      if (it == params.end()) return out;
      out.push_back(it->second);
    }
  }
  // Values of the filter with this name.
  std::vector<std::string> filter(const std::string& name) const {
    for (int i = 1;; ++i) {
      std::string p = "Filter." + std::to_string(i);
      auto it = params.find(p + ".Name");
      if (it == params.end()) return {};
      if (it->second == name) return list(p + ".Value");
    }
  }
};

struct FakeInstance {
  std::string id, state = "running", type = "m5.large", zone, subnet, private_ip, public_ip,
                  lifecycle, token, launch_time = "2026-01-01T00:00:00.000Z";
  std::map<std::string, std::string> tags;
};

// One RunInstances call that created instances, as the fake applied it.
struct FakeLaunch {
  std::string token;  // ClientToken ("" when none)
  int asked = 0;      // MaxCount
  std::vector<FakeInstance> made;  // as created: tags, zone, token
};

struct FakeSubnet {
  std::string id, zone, vpc;
  bool default_for_az = true;
};

struct FakeGroup {
  std::string id, name, vpc;
  std::vector<std::string> self_refs;  // group ids allowed all traffic
  std::vector<std::pair<int, std::string>> ssh;  // port, cidr
};

inline std::string error_xml(const std::string& code, const std::string& message,
                             const std::string& request_id = "req-1", bool error_response = false) {
  if (error_response)
    return "<ErrorResponse><Error><Type>Sender</Type><Code>" + code + "</Code><Message>" + message +
           "</Message></Error><RequestId>" + request_id + "</RequestId></ErrorResponse>";
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>" + code +
         "</Code><Message>" + message + "</Message></Error></Errors><RequestID>" + request_id +
         "</RequestID></Response>";
}

inline std::string instance_xml(const FakeInstance& i) {
  static const std::map<std::string, int> codes = {{"pending", 0},   {"running", 16},
                                                   {"shutting-down", 32}, {"terminated", 48},
                                                   {"stopping", 64}, {"stopped", 80}};
  std::string x = "<item><instanceId>" + i.id + "</instanceId><imageId>ami-1</imageId>";
  x += "<instanceState><code>" + std::to_string(codes.at(i.state)) + "</code><name>" + i.state +
       "</name></instanceState>";
  x += "<privateDnsName>ip.ec2.internal</privateDnsName><dnsName/><instanceType>" + i.type +
       "</instanceType><launchTime>" + i.launch_time + "</launchTime>";
  x += "<placement><availabilityZone>" + i.zone + "</availabilityZone><tenancy>default</tenancy></placement>";
  x += "<subnetId>" + i.subnet + "</subnetId><vpcId>vpc-1</vpcId>";
  if (!i.private_ip.empty()) x += "<privateIpAddress>" + i.private_ip + "</privateIpAddress>";
  if (!i.public_ip.empty()) x += "<ipAddress>" + i.public_ip + "</ipAddress>";
  if (!i.lifecycle.empty()) x += "<instanceLifecycle>" + i.lifecycle + "</instanceLifecycle>";
  x += "<clientToken>" + i.token + "</clientToken>";
  if (!i.tags.empty()) {
    x += "<tagSet>";
    for (const auto& [k, v] : i.tags) x += "<item><key>" + k + "</key><value>" + v + "</value></item>";
    x += "</tagSet>";
  }
  // Nested addresses that must not be taken for the instance's own.
  x += "<networkInterfaceSet><item><networkInterfaceId>eni-1</networkInterfaceId>"
       "<privateIpAddress>10.99.99.99</privateIpAddress><association><publicIp>198.51.100.99"
       "</publicIp></association></item></networkInterfaceSet>";
  return x + "</item>";
}

class FakeEc2 : public raycluster::HttpTransport {
 public:
  using Handler = std::function<HttpResponse(const Ec2Call&)>;

  std::vector<Ec2Call> calls;
  std::map<std::string, Handler> handlers;  // replaces the built-in answer of an action
  // Answers given before the built-in one, first in first out: {action, response}.
  std::vector<std::pair<std::string, HttpResponse>> faults;

  std::vector<FakeInstance> instances;
  std::vector<FakeSubnet> subnets = {{"subnet-a", "us-east-1a", "vpc-1"},
                                     {"subnet-b", "us-east-1b", "vpc-1"},
                                     {"subnet-c", "us-east-1c", "vpc-1"}};
  std::vector<FakeGroup> groups;
  std::map<std::string, std::string> key_pairs;  // name -> public key ("" when created here)
  std::set<std::string> no_capacity;             // subnets answering InsufficientInstanceCapacity
  std::set<std::string> protected_ids;           // TerminateInstances answers OperationNotPermitted
  // Every launch that created instances, in order; never trimmed.
  std::vector<FakeLaunch> launches;
  std::string checkip = "203.0.113.7\n";
  std::size_t page_size = 1000;
  int next_id = 1;

  // As the curl transport does, a 2xx body goes to the request's body sink
  // when it has one: in pieces of stream_piece bytes (0: never streamed).
  std::size_t stream_piece = 7;
  std::atomic<int> streamed{0};  // answers streamed
  // Streams half of the next streamed answer, then fails as a dropped
  // connection does (retryable).
  bool drop_next_stream = false;

  HttpResponse send(const HttpRequest& request, const CancelToken& cancel = {}) override {
    HttpResponse r = answer(request, cancel);
    const auto& sink = request.body_sink;
    if (stream_piece == 0 || !sink.write || r.status < 200 || r.status >= 300) return r;
    std::string_view body(r.body);
    bool drop = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      std::swap(drop, drop_next_stream);
    }
    if (drop) body = body.substr(0, body.size() / 2);
    for (std::size_t at = 0; at < body.size(); at += stream_piece) sink.write(body.substr(at, stream_piece));
    if (drop) throw raycluster::Error(raycluster::ErrorCode::unavailable, "connection reset mid-body", true);
    r.body.clear();
    r.body_streamed = true;
    ++streamed;
    return r;
  }

  HttpResponse answer(const HttpRequest& request, const CancelToken& = {}) {
    std::lock_guard<std::mutex> lock(mu_);
    Ec2Call call;
    call.request = request;
    if (request.method == "GET") {
      call.action = "GET " + request.url;
      calls.push_back(call);
      return ok(checkip);
    }
    for (const auto& kv : split(request.body, '&')) {
      auto eq = kv.find('=');
      call.params[raycluster::sigv4::uri_decode(kv.substr(0, eq))] =
          eq == std::string::npos ? "" : raycluster::sigv4::uri_decode(kv.substr(eq + 1));
    }
    call.action = call.at("Action");
    calls.push_back(call);
    for (auto it = faults.begin(); it != faults.end(); ++it) {
      if (it->first == call.action || it->first == "*") {
        HttpResponse r = it->second;
        faults.erase(it);
        return r;
      }
    }
    if (auto h = handlers.find(call.action); h != handlers.end()) return h->second(call);
    return builtin(call);
  }

  std::vector<Ec2Call> of(const std::string& action) const {
    std::vector<Ec2Call> out;
    for (const auto& c : calls)
      if (c.action == action) out.push_back(c);
    return out;
  }
  std::size_t count(const std::string& action) const { return of(action).size(); }
  FakeInstance* find(const std::string& id) {
    for (auto& i : instances)
      if (i.id == id) return &i;
    return nullptr;
  }
  FakeInstance& add(const std::map<std::string, std::string>& tags, const std::string& state = "running") {
    FakeInstance i;
    i.id = make_id();
    i.state = state;
    i.zone = "us-east-1a";
    i.subnet = "subnet-a";
    i.private_ip = "10.0.0." + std::to_string(next_id);
    i.public_ip = "198.51.100." + std::to_string(next_id);
    i.tags = tags;
    instances.push_back(i);
    return instances.back();
  }

  static HttpResponse ok(std::string body) {
    HttpResponse r;
    r.status = 200;
    r.body = std::move(body);
    return r;
  }
  static HttpResponse fail(int status, const std::string& code, const std::string& message = "failed",
                           bool error_response = false) {
    HttpResponse r;
    r.status = status;
    r.body = error_xml(code, message, "req-" + code, error_response);
    return r;
  }

 private:
  static std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    std::size_t start = 0;
    for (;;) {
      auto p = s.find(sep, start);
      out.push_back(s.substr(start, p - start));
      if (p == std::string::npos) return out;
      start = p + 1;
    }
  }
  std::string make_id() {
    char buf[32];
    std::snprintf(buf, sizeof buf, "i-%017x", next_id++);
    return buf;
  }
  static std::string wrap(const std::string& action, const std::string& inner) {
    return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<" + action +
           "Response xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>r-" + action +
           "</requestId>" + inner + "</" + action + "Response>";
  }
  static bool matches(const std::vector<std::string>& values, const std::string& v) {
    return values.empty() || std::find(values.begin(), values.end(), v) != values.end();
  }

  HttpResponse builtin(const Ec2Call& c) {
    const std::string& a = c.action;
    if (a == "DescribeInstances") {
      auto names = c.filter("tag:ray-cluster-name");
      auto states = c.filter("instance-state-name");
      auto ids = c.filter("instance-id");
      auto listed = c.list("InstanceId");
      std::vector<const FakeInstance*> hits;
      for (const auto& i : instances) {
        auto name = i.tags.find("ray-cluster-name");
        if (!names.empty() && (name == i.tags.end() || !matches(names, name->second))) continue;
        if (!matches(states, i.state) || !matches(ids, i.id) || !matches(listed, i.id)) continue;
        hits.push_back(&i);
      }
      std::size_t start = c.has("NextToken") ? std::stoul(c.at("NextToken")) : 0;
      std::size_t n = std::min(page_size, c.has("MaxResults") ? std::stoul(c.at("MaxResults")) : 1000000);
      std::string x = "<reservationSet>";
      std::size_t end = std::min(hits.size(), start + n);
      for (std::size_t k = start; k < end; ++k)
        x += "<item><reservationId>r-1</reservationId><ownerId>123</ownerId><groupSet/><instancesSet>" +
             instance_xml(*hits[k]) + "</instancesSet></item>";
      x += "</reservationSet>";
      if (end < hits.size()) x += "<nextToken>" + std::to_string(end) + "</nextToken>";
      return ok(wrap(a, x));
    }
    if (a == "RunInstances") {
      const std::string& subnet = c.at("SubnetId");
      const std::string& token = c.at("ClientToken");
      // As EC2 does: a ClientToken seen before answers with that launch's
      // instances, whatever the capacity now; with other parameters it is
      // an error.
      std::string shape;
      for (const auto& [k, v] : c.params)
        if (k != "ClientToken") shape += k + "=" + v + "&";
      if (!token.empty()) {
        auto seen = token_shapes_.find(token);
        if (seen != token_shapes_.end() && seen->second != shape)
          return fail(400, "IdempotentParameterMismatch",
                      "The client token you have provided is associated with a resource that is already "
                      "deleted or has different parameters");
      }
      std::string x = "<reservationId>r-2</reservationId><ownerId>123</ownerId><groupSet/><instancesSet>";
      bool replay = false;
      for (const auto& i : instances)
        if (!token.empty() && i.token == token) {
          x += instance_xml(i);
          replay = true;
        }
      if (!replay && no_capacity.count(subnet))
        return fail(500, "InsufficientInstanceCapacity",
                    "We currently do not have sufficient m5.large capacity in the Availability Zone you requested");
      if (!replay) {
        if (!token.empty()) token_shapes_[token] = shape;
        FakeLaunch launch;
        launch.token = token;
        int n = std::stoi(c.at("MaxCount"));
        std::map<std::string, std::string> tags;
        for (int s = 1; c.has("TagSpecification." + std::to_string(s) + ".ResourceType"); ++s) {
          std::string p = "TagSpecification." + std::to_string(s);
          if (c.at(p + ".ResourceType") != "instance") continue;
          for (int t = 1; c.has(p + ".Tag." + std::to_string(t) + ".Key"); ++t)
            tags[c.at(p + ".Tag." + std::to_string(t) + ".Key")] = c.at(p + ".Tag." + std::to_string(t) + ".Value");
        }
        launch.asked = n;
        for (int k = 0; k < n; ++k) {
          FakeInstance& i = add(tags, "pending");
          i.public_ip.clear();  // comes later
          i.subnet = subnet;
          for (const auto& s : subnets)
            if (s.id == subnet) i.zone = s.zone;
          i.token = token;
          if (c.at("InstanceMarketOptions.MarketType") == "spot") i.lifecycle = "spot";
          x += instance_xml(i);
          launch.made.push_back(i);
        }
        launches.push_back(std::move(launch));
      }
      return ok(wrap(a, x + "</instancesSet>"));
    }
    if (a == "TerminateInstances" || a == "StopInstances" || a == "StartInstances") {
      auto ids = c.list("InstanceId");
      std::vector<std::string> unknown;
      for (const auto& id : ids)
        if (!find(id)) unknown.push_back(id);
      if (!unknown.empty()) {
        std::string list;
        for (const auto& id : unknown) list += (list.empty() ? "" : ", ") + id;
        return fail(400, "InvalidInstanceID.NotFound", "The instance IDs '" + list + "' do not exist");
      }
      for (const auto& id : ids)
        if (a == "TerminateInstances" && protected_ids.count(id))
          return fail(400, "OperationNotPermitted",
                      "The instance '" + id + "' may not be terminated. Modify its 'disableApiTermination' instance attribute and try again.");
      std::string x = "<instancesSet>";
      for (const auto& id : ids) {
        FakeInstance* i = find(id);
        std::string prev = i->state;
        i->state = a == "TerminateInstances" ? "shutting-down" : a == "StopInstances" ? "stopped" : "pending";
        x += "<item><instanceId>" + id + "</instanceId><currentState><name>" + i->state +
             "</name></currentState><previousState><name>" + prev + "</name></previousState></item>";
      }
      return ok(wrap(a, x + "</instancesSet>"));
    }
    if (a == "CreateTags" || a == "DeleteTags") {
      for (const auto& id : c.list("ResourceId")) {
        FakeInstance* i = find(id);
        if (!i) return fail(400, "InvalidInstanceID.NotFound", "The instance ID '" + id + "' does not exist");
        for (int t = 1; c.has("Tag." + std::to_string(t) + ".Key"); ++t) {
          std::string k = c.at("Tag." + std::to_string(t) + ".Key");
          if (a == "CreateTags")
            i->tags[k] = c.at("Tag." + std::to_string(t) + ".Value");
          else
            i->tags.erase(k);
        }
      }
      return ok(wrap(a, "<return>true</return>"));
    }
    if (a == "DescribeSubnets") {
      auto ids = c.list("SubnetId");
      auto def = c.filter("default-for-az");
      std::string x = "<subnetSet>";
      for (const auto& s : subnets) {
        if (!matches(ids, s.id)) continue;
        if (!def.empty() && !s.default_for_az) continue;
        x += "<item><subnetId>" + s.id + "</subnetId><state>available</state><vpcId>" + s.vpc +
             "</vpcId><availabilityZone>" + s.zone + "</availabilityZone><defaultForAz>" +
             (s.default_for_az ? "true" : "false") + "</defaultForAz></item>";
      }
      return ok(wrap(a, x + "</subnetSet>"));
    }
    if (a == "DescribeSecurityGroups") {
      auto names = c.filter("group-name");
      auto vpcs = c.filter("vpc-id");
      std::string x = "<securityGroupInfo>";
      for (const auto& g : groups) {
        if (!matches(names, g.name) || !matches(vpcs, g.vpc)) continue;
        x += "<item><ownerId>123</ownerId><groupId>" + g.id + "</groupId><groupName>" + g.name +
             "</groupName><groupDescription>d</groupDescription><vpcId>" + g.vpc + "</vpcId><ipPermissions>";
        for (const auto& ref : g.self_refs)
          x += "<item><ipProtocol>-1</ipProtocol><groups><item><userId>123</userId><groupId>" + ref +
               "</groupId></item></groups><ipRanges/></item>";
        for (const auto& [port, cidr] : g.ssh)
          x += "<item><ipProtocol>tcp</ipProtocol><fromPort>" + std::to_string(port) + "</fromPort><toPort>" +
               std::to_string(port) + "</toPort><groups/><ipRanges><item><cidrIp>" + cidr +
               "</cidrIp></item></ipRanges></item>";
        x += "</ipPermissions><ipPermissionsEgress/></item>";
      }
      return ok(wrap(a, x + "</securityGroupInfo>"));
    }
    if (a == "CreateSecurityGroup") {
      for (const auto& g : groups)
        if (g.name == c.at("GroupName") && g.vpc == c.at("VpcId"))
          return fail(400, "InvalidGroup.Duplicate", "The security group already exists");
      FakeGroup g{"sg-" + std::to_string(groups.size() + 1), c.at("GroupName"), c.at("VpcId"), {}, {}};
      groups.push_back(g);
      return ok(wrap(a, "<return>true</return><groupId>" + g.id + "</groupId>"));
    }
    if (a == "AuthorizeSecurityGroupIngress") {
      for (auto& g : groups) {
        if (g.id != c.at("GroupId")) continue;
        for (int p = 1; c.has("IpPermissions." + std::to_string(p) + ".IpProtocol"); ++p) {
          std::string pre = "IpPermissions." + std::to_string(p);
          for (const auto& ref : c.list(pre + ".Groups")) (void)ref;
          if (c.has(pre + ".Groups.1.GroupId")) g.self_refs.push_back(c.at(pre + ".Groups.1.GroupId"));
          for (int r = 1; c.has(pre + ".IpRanges." + std::to_string(r) + ".CidrIp"); ++r)
            g.ssh.emplace_back(std::stoi(c.at(pre + ".FromPort")),
                               c.at(pre + ".IpRanges." + std::to_string(r) + ".CidrIp"));
        }
        return ok(wrap(a, "<return>true</return>"));
      }
      return fail(400, "InvalidGroup.NotFound", "no group");
    }
    if (a == "DescribeKeyPairs") {
      std::string x = "<keySet>";
      for (const auto& name : c.list("KeyName")) {
        auto it = key_pairs.find(name);
        if (it == key_pairs.end())
          return fail(400, "InvalidKeyPair.NotFound", "The key pair '" + name + "' does not exist");
        x += "<item><keyPairId>key-1</keyPairId><keyFingerprint>aa:bb</keyFingerprint><keyName>" + name +
             "</keyName>" + (it->second.empty() ? "" : "<publicKey>" + it->second + "</publicKey>") + "</item>";
      }
      return ok(wrap(a, x + "</keySet>"));
    }
    if (a == "CreateKeyPair") {
      if (key_pairs.count(c.at("KeyName")))
        return fail(400, "InvalidKeyPair.Duplicate", "The keypair already exists");
      key_pairs[c.at("KeyName")] = "";
      return ok(wrap(a, "<keyName>" + c.at("KeyName") +
                            "</keyName><keyFingerprint>aa:bb</keyFingerprint><keyMaterial>-----BEGIN RSA "
                            "PRIVATE KEY-----\nMIIfake\n-----END RSA PRIVATE KEY-----</keyMaterial><keyPairId>key-2</keyPairId>"));
    }
    if (a == "ImportKeyPair") {
      if (key_pairs.count(c.at("KeyName")))
        return fail(400, "InvalidKeyPair.Duplicate", "The keypair already exists");
      auto line = raycluster::detail::base64_decode(c.at("PublicKeyMaterial"));
      if (!line) return fail(400, "InvalidKeyPair.Format", "Key is not in valid OpenSSH public key format");
      key_pairs[c.at("KeyName")] = *line;
      return ok(wrap(a, "<keyName>" + c.at("KeyName") + "</keyName><keyFingerprint>aa:bb</keyFingerprint>"));
    }
    if (a == "DeleteKeyPair") {
      key_pairs.erase(c.at("KeyName"));
      return ok(wrap(a, "<return>true</return>"));
    }
    if (a == "DescribeImages") {
      return ok(wrap(a,
                     "<imagesSet>"
                     "<item><imageId>ami-jammy-new</imageId><name>ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-20250101</name><creationDate>2025-01-01T00:00:00.000Z</creationDate></item>"
                     "<item><imageId>ami-noble-old</imageId><name>ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20240501</name><creationDate>2024-05-01T00:00:00.000Z</creationDate></item>"
                     "<item><imageId>ami-noble-new</imageId><name>ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20241001</name><creationDate>2024-10-01T00:00:00.000Z</creationDate></item>"
                     "</imagesSet>"));
    }
    return fail(400, "InvalidAction", "The action " + a + " is not valid for this web service.");
  }

  std::map<std::string, std::string> token_shapes_;  // ClientToken -> its launch's parameters
  std::mutex mu_;
};

}  // namespace rctest
