#include "providers/gcp/instance_list.hpp"

#include <rapidjson/error/en.h>
#include <rapidjson/reader.h>

#include <vector>

#include "util/error.hpp"

namespace raycluster::detail::gce {
namespace {

// Where a container sits in an instances.list answer.
enum class Role { other, root, items, instance, labels, nics, nic0, access_configs, access_config, scheduling };

struct Frame {
  Role role;
  bool array;
  int index = -1;  // arrays: the element being read
};

class Handler : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, Handler> {
 public:
  explicit Handler(InstancePage& page) : page_(page) {}

  bool StartObject() { return push(false); }
  bool StartArray() { return push(true); }
  bool EndObject(rapidjson::SizeType) { return pop(); }
  bool EndArray(rapidjson::SizeType) { return pop(); }
  bool Key(const char* s, rapidjson::SizeType n, bool) {
    key_.assign(s, n);
    return true;
  }
  bool String(const char* s, rapidjson::SizeType n, bool) {
    element();
    if (stack_.empty()) return true;
    std::string v(s, n);
    Instance* in = page_.instances.empty() ? nullptr : &page_.instances.back();
    switch (stack_.back().role) {
      case Role::root:
        if (key_ == "nextPageToken") page_.next_page_token = std::move(v);
        break;
      case Role::instance:
        if (key_ == "name") in->name = std::move(v);
        else if (key_ == "zone") in->zone = v.substr(v.rfind('/') + 1);
        else if (key_ == "status") in->status = std::move(v);
        else if (key_ == "labelFingerprint") in->label_fingerprint = std::move(v);
        else if (key_ == "creationTimestamp") in->creation = std::move(v);
        break;
      case Role::labels:
        in->labels[key_] = std::move(v);
        break;
      case Role::nic0:
        if (key_ == "networkIP") in->internal_ip = std::move(v);
        break;
      case Role::access_config:
        if (key_ == "natIP" && in->external_ip.empty()) in->external_ip = std::move(v);
        break;
      case Role::scheduling:
        if (key_ == "provisioningModel" && v == "SPOT") in->preemptible = true;
        break;
      default:
        break;
    }
    return true;
  }
  bool Bool(bool b) {
    element();
    if (!stack_.empty() && stack_.back().role == Role::scheduling && key_ == "preemptible" && b)
      page_.instances.back().preemptible = true;
    return true;
  }
  bool Null() { return scalar(); }
  bool Int(int) { return scalar(); }
  bool Uint(unsigned) { return scalar(); }
  bool Int64(int64_t) { return scalar(); }
  bool Uint64(uint64_t) { return scalar(); }
  bool Double(double) { return scalar(); }

  std::string problem;

 private:
  bool scalar() {
    element();
    return true;
  }
  // A value starts inside the current container: arrays count their elements.
  void element() {
    if (!stack_.empty() && stack_.back().array) ++stack_.back().index;
  }
  bool push(bool array) {
    element();
    if (stack_.size() >= kMaxListDepth) {
      problem = "nested deeper than " + std::to_string(kMaxListDepth);
      return false;
    }
    Role parent = stack_.empty() ? Role::other : stack_.back().role;
    Role role = Role::other;
    if (stack_.empty()) role = array ? Role::other : Role::root;
    else if (parent == Role::root && key_ == "items" && array) role = Role::items;
    else if (parent == Role::items && !array) role = Role::instance;
    else if (parent == Role::instance && key_ == "labels" && !array) role = Role::labels;
    else if (parent == Role::instance && key_ == "networkInterfaces" && array) role = Role::nics;
    else if (parent == Role::nics && !array && stack_.back().index == 0) role = Role::nic0;
    else if (parent == Role::nic0 && key_ == "accessConfigs" && array) role = Role::access_configs;
    else if (parent == Role::access_configs && !array) role = Role::access_config;
    else if (parent == Role::instance && key_ == "scheduling" && !array) role = Role::scheduling;
    if (role == Role::instance) {
      if (page_.instances.size() >= kMaxListItems) {
        problem = "more than " + std::to_string(kMaxListItems) + " instances";
        return false;
      }
      page_.instances.emplace_back();
    }
    stack_.push_back({role, array});
    return true;
  }
  bool pop() {
    stack_.pop_back();
    return true;
  }

  InstancePage& page_;
  std::vector<Frame> stack_;
  std::string key_;
};

}  // namespace

InstancePage parse_instance_list(const std::string& json) {
  InstancePage page;
  Handler handler(page);
  rapidjson::Reader reader;
  rapidjson::StringStream in(json.c_str());
  auto result = reader.Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseStopWhenDoneFlag>(in, handler);
  if (result.IsError())
    throw Error(ErrorCode::invalid_request,
                "instances.list answered unreadable JSON at offset " + std::to_string(result.Offset()) +
                    ": " + (handler.problem.empty() ? rapidjson::GetParseError_En(result.Code()) : handler.problem));
  return page;
}

}  // namespace raycluster::detail::gce
