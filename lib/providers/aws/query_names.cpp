#include "providers/aws/query_names.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "providers/common/base64.hpp"
#include "util/error.hpp"
#include "util/strings.hpp"

namespace raycluster::detail::ec2 {
namespace {

const char* kind_name(QueryKind k) {
  switch (k) {
    case QueryKind::string: return "string";
    case QueryKind::boolean: return "boolean";
    case QueryKind::integer: return "integer";
    case QueryKind::number: return "number";
    case QueryKind::timestamp: return "timestamp";
    case QueryKind::blob: return "blob";
    case QueryKind::structure: return "structure";
    case QueryKind::list: return "list";
  }
  return "?";
}

[[noreturn]] void bad(const std::string& path, const std::string& what) {
  throw Error(ErrorCode::config, path + ": " + what);
}

std::string scalar_text(const Value& v, QueryKind kind, const std::string& path) {
  switch (kind) {
    case QueryKind::boolean:
      if (!v.is_bool()) bad(path, "expected true or false");
      return v.as_bool() ? "true" : "false";
    case QueryKind::integer:
      if (v.is_integer()) return std::to_string(v.as_int());
      if (v.is_number() && std::floor(v.as_number()) == v.as_number())
        return std::to_string(static_cast<std::int64_t>(v.as_number()));
      bad(path, "expected an integer");
    case QueryKind::number:
      if (v.is_integer()) return std::to_string(v.as_int());
      if (v.is_number()) {
        std::string s = Value(v.as_number()).to_json();
        return s;
      }
      bad(path, "expected a number");
    default:
      break;
  }
  // Strings (and timestamps, passed through as written): YAML reads
  // `Version: 2` as a number, boto3 users mean the string.
  if (v.is_string()) return v.as_string();
  if (v.is_integer()) return std::to_string(v.as_int());
  if (v.is_bool()) return v.as_bool() ? "true" : "false";
  if (v.is_number()) return Value(v.as_number()).to_json();
  bad(path, "expected a string");
}

void encode(const Value& v, int shape_index, const std::string& prefix, const std::string& path,
            QueryParams& out) {
  const QueryShape& shape = kQueryShapes[shape_index];
  if (shape.kind == QueryKind::structure) {
    if (!v.is_object()) bad(path, "expected a mapping (" + std::string(shape.name) + ")");
    for (const auto& [key, child] : v.as_object()) {
      const QueryMember* m = find_member(shape_index, key);
      std::string child_path = path + "." + key;
      if (!m) {
        std::vector<std::string> names;
        for (int i = 0; i < shape.member_count; ++i)
          names.emplace_back(kQueryMembers[shape.first_member + i].name);
        auto guess = closest_match(key, names);
        bad(child_path, "not a field of " + std::string(shape.name) + " in EC2 RunInstances" +
                            (guess ? " (did you mean " + *guess + "?)" : ""));
      }
      if (child.is_null()) continue;
      encode(child, m->shape, prefix.empty() ? m->query_name : prefix + "." + m->query_name,
             child_path, out);
    }
    return;
  }
  if (shape.kind == QueryKind::list) {
    if (!v.is_array()) bad(path, "expected a list");
    int i = 0;
    for (const auto& item : v.as_array()) {
      ++i;
      encode(item, shape.item, prefix + "." + std::to_string(i),
             path + "[" + std::to_string(i - 1) + "]", out);
    }
    return;
  }
  if (v.is_object() || v.is_array()) bad(path, "expected a single value");
  std::string text = scalar_text(v, shape.kind, path);
  if (shape.kind == QueryKind::blob) text = base64_encode(text);
  out.emplace_back(prefix, std::move(text));
}

}  // namespace

const QueryMember* find_member(int shape, std::string_view name) {
  const QueryShape& s = kQueryShapes[shape];
  if (s.kind != QueryKind::structure) return nullptr;
  const QueryMember* first = kQueryMembers + s.first_member;
  const QueryMember* last = first + s.member_count;
  auto it = std::lower_bound(first, last, name, [](const QueryMember& m, std::string_view n) {
    return std::string_view(m.name) < n;
  });
  if (it != last && name == it->name) return it;
  return nullptr;
}

void encode_node_config(const Value& config, std::string_view path,
                        const std::vector<std::string>& skip, QueryParams& out) {
  if (config.is_null()) return;
  std::string where(path);
  if (!config.is_object()) bad(where, "expected a mapping of RunInstances parameters");
  Value rest = Value::object();
  for (const auto& [key, v] : config.as_object()) {
    if (std::find(skip.begin(), skip.end(), key) != skip.end()) continue;
    if (key == "UserData" && !v.is_null()) {
      // boto3 base64-encodes RunInstances' UserData itself; Ray configs
      // carry the script as written.
      if (!v.is_string()) bad(where + ".UserData", "expected a string");
      out.emplace_back("UserData", base64_encode(v.as_string()));
      continue;
    }
    rest.set(key, v);
  }
  encode(rest, kRunInstancesRequest, "", where, out);
}

std::string query_table_json() {
  Value root = Value::object();
  for (std::size_t i = 0; i < kQueryShapeCount; ++i) {
    const QueryShape& s = kQueryShapes[i];
    Value shape = Value::object();
    shape.set("kind", kind_name(s.kind));
    if (s.kind == QueryKind::list) shape.set("item", kQueryShapes[s.item].name);
    if (s.kind == QueryKind::structure) {
      Value members = Value::object();
      for (int m = 0; m < s.member_count; ++m) {
        const QueryMember& qm = kQueryMembers[s.first_member + m];
        Value pair = Value::array();
        pair.push(qm.query_name);
        pair.push(kQueryShapes[qm.shape].name);
        members.set(qm.name, std::move(pair));
      }
      shape.set("members", std::move(members));
    }
    root.set(s.name, std::move(shape));
  }
  return root.to_json();
}

}  // namespace raycluster::detail::ec2
