#include "providers/aws/ec2_xml.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <pugixml.hpp>

#include "providers/aws/instance_stream.hpp"
#include "util/error.hpp"

namespace raycluster::detail::ec2 {
namespace {

// Insitu: pugixml keeps pointers into the buffer and decodes entities in
// place. No whitespace-only text nodes, no comments or processing
// instructions, no DOCTYPE: EC2 sends none of them.
constexpr unsigned kParseFlags = pugi::parse_escapes | pugi::parse_eol;

void load(pugi::xml_document& doc, std::string& body) {
  auto r = doc.load_buffer_inplace(body.data(), body.size(), kParseFlags, pugi::encoding_utf8);
  if (!r)
    throw Error(ErrorCode::invalid_request,
                std::string("EC2 answered with malformed XML: ") + r.description() + " at offset " +
                    std::to_string(r.offset));
}

bool is(const pugi::xml_node& n, const char* name) { return std::strcmp(n.name(), name) == 0; }

std::string text(const pugi::xml_node& n) { return n.child_value(); }

int to_int(const char* s) {
  int v = -1;
  if (s && *s) std::sscanf(s, "%d", &v);
  return v;
}

void parse_tags(const pugi::xml_node& set, std::vector<std::pair<std::string, std::string>>& out) {
  for (auto item = set.first_child(); item; item = item.next_sibling()) {
    std::string key, value;
    for (auto f = item.first_child(); f; f = f.next_sibling()) {
      if (is(f, "key"))
        key = f.child_value();
      else if (is(f, "value"))
        value = f.child_value();
    }
    out.emplace_back(std::move(key), std::move(value));
  }
}

Instance parse_instance(const pugi::xml_node& item) {
  Instance in;
  // One pass over the direct children: nested sets (networkInterfaceSet,
  // blockDeviceMapping) repeat names such as privateIpAddress.
  for (auto f = item.first_child(); f; f = f.next_sibling()) {
    const char* name = f.name();
    switch (name[0]) {
      case 'i':
        if (is(f, "instanceId"))
          in.id = text(f);
        else if (is(f, "instanceState"))
          in.state = f.child("name").child_value();
        else if (is(f, "instanceType"))
          in.instance_type = text(f);
        else if (is(f, "ipAddress"))
          in.public_ip = text(f);
        else if (is(f, "instanceLifecycle"))
          in.lifecycle = text(f);
        break;
      case 'p':
        if (is(f, "privateIpAddress"))
          in.private_ip = text(f);
        else if (is(f, "placement"))
          in.zone = f.child("availabilityZone").child_value();
        break;
      case 's':
        if (is(f, "subnetId")) in.subnet_id = text(f);
        break;
      case 'c':
        if (is(f, "clientToken")) in.client_token = text(f);
        break;
      case 'l':
        if (is(f, "launchTime")) in.launch_time = parse_iso8601(f.child_value());
        break;
      case 't':
        if (is(f, "tagSet")) parse_tags(f, in.tags);
        break;
      default:
        break;
    }
  }
  return in;
}

pugi::xml_node root_of(const pugi::xml_document& doc) { return doc.document_element(); }

std::string_view trim_view(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\n' || s.front() == '\r' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\n' || s.back() == '\r' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

// The items of the answer's list element `set`, each read by `one`.
template <typename T, typename Read>
std::vector<T> parse_set(std::string& body, const char* set, Read one) {
  pugi::xml_document doc;
  load(doc, body);
  std::vector<T> out;
  for (auto item : root_of(doc).child(set).children()) out.push_back(one(item));
  return out;
}

}  // namespace

const std::string* Instance::tag(std::string_view key) const {
  for (const auto& [k, v] : tags)
    if (k == key) return &v;
  return nullptr;
}

InstancePage parse_instances(std::string_view body) {
  // Fed in slices: the stream's buffer then stays near one instance element
  // instead of growing to a second copy of the answer.
  constexpr std::size_t kSlice = 64 * 1024;
  InstanceStream stream;
  for (std::size_t at = 0; at < body.size(); at += kSlice) stream.feed(body.substr(at, kSlice));
  return stream.finish();
}

Instance parse_instance_fragment(char* data, std::size_t size, std::size_t doc_offset) {
  pugi::xml_document doc;
  auto res = doc.load_buffer_inplace(data, size, kParseFlags, pugi::encoding_utf8);
  if (!res)
    throw Error(ErrorCode::invalid_request,
                std::string("EC2 answered with malformed XML: ") + res.description() +
                    " at offset " + std::to_string(doc_offset + static_cast<std::size_t>(res.offset)));
  return parse_instance(doc.document_element());
}

std::string parse_token_text(std::string_view raw) {
  // Tokens are opaque base64-like text; decode entities all the same.
  std::string token;
  pugi::xml_document t;
  std::string wrapped = "<t>" + std::string(raw) + "</t>";
  if (t.load_buffer(wrapped.data(), wrapped.size(), kParseFlags, pugi::encoding_utf8))
    token = t.child("t").child_value();
  else
    token = std::string(raw);
  return std::string(trim_view(token));
}

std::vector<Subnet> parse_subnets(std::string& body) {
  return parse_set<Subnet>(body, "subnetSet", [](const pugi::xml_node& item) {
    Subnet s;
    s.id = item.child_value("subnetId");
    s.zone = item.child_value("availabilityZone");
    s.vpc_id = item.child_value("vpcId");
    s.default_for_az = std::strcmp(item.child_value("defaultForAz"), "true") == 0;
    return s;
  });
}

std::vector<SecurityGroup> parse_security_groups(std::string& body) {
  return parse_set<SecurityGroup>(body, "securityGroupInfo", [](const pugi::xml_node& item) {
    SecurityGroup g;
    g.id = item.child_value("groupId");
    g.name = item.child_value("groupName");
    g.vpc_id = item.child_value("vpcId");
    for (auto p : item.child("ipPermissions").children()) {
      Permission perm;
      perm.protocol = p.child_value("ipProtocol");
      perm.from_port = to_int(p.child_value("fromPort"));
      perm.to_port = to_int(p.child_value("toPort"));
      for (auto r : p.child("ipRanges").children()) perm.cidrs.emplace_back(r.child_value("cidrIp"));
      for (auto u : p.child("groups").children()) perm.group_ids.emplace_back(u.child_value("groupId"));
      g.ingress.push_back(std::move(perm));
    }
    return g;
  });
}

std::vector<KeyPair> parse_key_pairs(std::string& body) {
  return parse_set<KeyPair>(body, "keySet", [](const pugi::xml_node& item) {
    KeyPair k;
    k.name = item.child_value("keyName");
    k.fingerprint = item.child_value("keyFingerprint");
    k.public_key = item.child_value("publicKey");
    return k;
  });
}

std::vector<Image> parse_images(std::string& body) {
  return parse_set<Image>(body, "imagesSet", [](const pugi::xml_node& item) {
    Image i;
    i.id = item.child_value("imageId");
    i.name = item.child_value("name");
    i.creation_date = item.child_value("creationDate");
    return i;
  });
}

std::vector<InstanceTypeInfo> parse_instance_types(std::string& body) {
  return parse_set<InstanceTypeInfo>(body, "instanceTypeSet", [](const pugi::xml_node& item) {
    InstanceTypeInfo t;
    t.name = item.child_value("instanceType");
    t.vcpus = std::atoi(item.child("vCpuInfo").child_value("defaultVCpus"));
    t.memory_mib = std::atoll(item.child("memoryInfo").child_value("sizeInMiB"));
    if (auto gpu = item.child("gpuInfo").child("gpus").child("item")) {
      t.gpu_name = gpu.child_value("name");
      t.gpu_count = std::atoi(gpu.child_value("count"));
    }
    return t;
  });
}

std::optional<std::string> find_text(std::string& body, std::string_view element) {
  pugi::xml_document doc;
  load(doc, body);
  std::string name(element);
  auto n = doc.find_node([&](const pugi::xml_node& x) { return name == x.name(); });
  if (!n) return std::nullopt;
  return std::string(n.child_value());
}

std::optional<ErrorInfo> parse_error(std::string_view body) {
  pugi::xml_document doc;
  if (!doc.load_buffer(body.data(), body.size(), kParseFlags, pugi::encoding_utf8)) return std::nullopt;
  auto root = doc.document_element();
  pugi::xml_node error;
  if (is(root, "Response"))
    error = root.child("Errors").child("Error");
  else if (is(root, "ErrorResponse"))
    // The Query shape; some EC2-compatible servers nest it in <Errors> too.
    error = root.child("Error") ? root.child("Error") : root.child("Errors").child("Error");
  if (!error) return std::nullopt;
  ErrorInfo info;
  info.code = error.child_value("Code");
  info.message = error.child_value("Message");
  for (const char* n : {"RequestID", "RequestId", "requestId"}) {
    if (auto r = root.child(n)) {
      info.request_id = r.child_value();
      break;
    }
  }
  return info;
}

std::chrono::system_clock::time_point parse_iso8601(std::string_view s) {
  // YYYY-MM-DDTHH:MM:SS, by hand: this runs once per instance of a listing.
  if (s.size() < 19 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
      s[16] != ':')
    return {};
  auto num = [&](std::size_t at, std::size_t len, int& out) {
    out = 0;
    for (std::size_t i = at; i < at + len; ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      out = out * 10 + (s[i] - '0');
    }
    return true;
  };
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  if (!num(0, 4, y) || !num(5, 2, mo) || !num(8, 2, d) || !num(11, 2, h) || !num(14, 2, mi) ||
      !num(17, 2, sec))
    return {};
  // system_clock counts nanoseconds in 64 bits: years past 2262 overflow it.
  if (y < 1970 || y > 2200 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
    return {};
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  time_t tt = ::timegm(&tm);
  auto tp = std::chrono::system_clock::from_time_t(tt);
  if (s.size() > 20 && s[19] == '.') {
    int ms = 0, digits = 0;
    for (std::size_t i = 20; i < s.size() && digits < 3 && s[i] >= '0' && s[i] <= '9'; ++i, ++digits)
      ms = ms * 10 + (s[i] - '0');
    while (digits++ < 3) ms *= 10;
    tp += std::chrono::milliseconds(ms);
  }
  return tp;
}

}  // namespace raycluster::detail::ec2
