// Ray's schema and its legacy form, and the parse_spec() entry point.
#include "spec/parse.hpp"

#include <algorithm>
#include <cctype>
#include <climits>

#include <yaml-cpp/yaml.h>

#include "spec/defaults.hpp"
#include "spec/parser.hpp"
#include "spec/text_checks.hpp"
#include "util/strings.hpp"

namespace raycluster::detail {

ClusterSpec Parser::run(const YAML::Node& root) {
  root_ = root;
  s_.source_file = r_.file();
  r_.resolve_merge_keys(root_);
  r_.record_origins(root_, "");
  if (r_.over_budget()) return s_;

  YAML::Node provider = top("provider");
  if (present(top("head_node")) || present(top("worker_nodes"))) {
    s_.dialect = present(top("available_node_types")) ? Dialect::ray : Dialect::ray_legacy;
  } else if (present(provider) && provider.IsScalar()) {
    s_.dialect = Dialect::flat;
  } else {
    s_.dialect = Dialect::ray;
  }

  switch (s_.dialect) {
    case Dialect::ray:
      r_.check_keys(root_, "", concat({&kCommonKeys, &kRayKeys}));
      break;
    case Dialect::ray_legacy:
      r_.check_keys(root_, "", concat({&kCommonKeys, &kLegacyKeys}));
      break;
    case Dialect::flat:
      r_.check_keys(root_, "", concat({&kCommonKeys, &kFlatKeys, &kFlatAwsKeys, &kFlatGcpKeys}));
      break;
  }

  parse_common();
  warn_ray_only_keys();
  if (s_.dialect == Dialect::flat) {
    parse_flat();
  } else {
    if (!present(provider)) {
      r_.error(SourceLocation{r_.file(), 1, 1}, "provider", "the config has no provider",
               "add e.g. 'provider: {type: aws, region: us-east-1}' or "
               "'provider: {type: localhost}'");
    } else {
      parse_provider(provider);
    }
    if (present(top("auth"))) parse_auth(top("auth"));
    parse_autoscaling_legacy();
    if (s_.dialect == Dialect::ray_legacy) {
      parse_legacy_types();
    } else {
      for (const char* k : {"head_node", "worker_nodes"}) {
        YAML::Node n = top(k);
        if (n.IsDefined() && !(n.IsNull() || (n.IsMap() && n.size() == 0)))
          r_.error(r_.where(k, n), k, std::string(k) + " is ignored when available_node_types is given",
                   "move its node_config into a node type under available_node_types");
      }
      if (present(top("available_node_types"))) {
        parse_node_types(top("available_node_types"));
      } else if (present(top("head_node_type"))) {
        r_.error(r_.where("head_node_type", top("head_node_type")), "head_node_type",
                 "head_node_type is set but there is no available_node_types",
                 "declare the node types under available_node_types");
      }
    }
  }
  if (provider_ok_) {
    if (s_.node_types.empty()) default_node_types();
    fill_defaults();
    validate();
    validate_storage();
  }
  return s_;
}

void Parser::parse_common() {
  if (YAML::Node n = top("cluster_name"); present(n)) {
    if (auto v = r_.str(n, "cluster_name")) {
      bool ok = !v->empty() && (*v)[0] != '.' && v->size() <= 100;
      for (char c : *v)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'))
          ok = false;
      if (ok)
        s_.cluster_name = *v;
      else
        r_.error(n, "cluster_name", "cluster name '" + *v + "' is not usable in tags and paths",
                 "use letters, digits, '-', '_' and '.', not starting with '.'");
    }
  }
  if (YAML::Node n = top("max_workers"); present(n)) {
    max_workers_given_ = true;
    if (auto v = r_.count(n, "max_workers")) s_.max_workers = *v;
  }
  if (YAML::Node n = top("upscaling_speed"); present(n))
    if (auto v = r_.number(n, "upscaling_speed", 0)) s_.upscaling_speed = *v;
  if (YAML::Node n = top("idle_timeout_minutes"); present(n))
    if (auto v = r_.number(n, "idle_timeout_minutes", 0)) s_.idle_timeout_minutes = *v;
  if (YAML::Node n = top("idle_release_after_startups"); present(n))
    if (auto v = r_.number(n, "idle_release_after_startups", 0))
      s_.idle_release_after_startups = *v;
  if (YAML::Node n = top("launch_payback"); present(n))
    if (auto v = r_.number(n, "launch_payback", 0)) s_.launch_payback = *v;
  if (YAML::Node n = top("autoscaler"); present(n)) parse_autoscaler_site(n);
  if (YAML::Node n = top("docker"); present(n)) s_.docker = parse_docker(n, "docker");
  if (YAML::Node n = top("storage"); present(n)) parse_storage(n);
  if (YAML::Node n = top("file_mounts"); present(n)) {
    if (auto m = r_.str_map(n, "file_mounts")) {
      for (auto& [remote, local] : *m) {
        std::string l = expand(local);
        if (l.empty()) {
          r_.error(r_.where("file_mounts." + remote, n), "file_mounts." + remote,
                   "the local path is empty", "write the local file or folder to copy");
          continue;
        }
        if (l[0] != '/' && !base_dir_.empty()) l = base_dir_ + "/" + l;
        s_.file_mounts[remote] = l;
      }
    }
  }
  if (YAML::Node n = top("cluster_synced_files"); present(n))
    if (auto v = r_.str_list(n, "cluster_synced_files")) s_.cluster_synced_files = *v;
  if (YAML::Node n = top("file_mounts_sync_continuously"); present(n))
    if (auto v = r_.boolean(n, "file_mounts_sync_continuously"))
      s_.file_mounts_sync_continuously = *v;
  if (YAML::Node n = top("rsync_exclude"); present(n))
    if (auto v = r_.str_list(n, "rsync_exclude")) s_.rsync_exclude = *v;
  if (YAML::Node n = top("rsync_filter"); present(n))
    if (auto v = r_.str_list(n, "rsync_filter")) s_.rsync_filter = *v;
  parse_commands();
}

void Parser::parse_autoscaler_site(const YAML::Node& n) {
  auto v = r_.str(n, "autoscaler");
  if (!v) return;
  const std::vector<std::string> sites(std::begin(kAutoscalerSites), std::end(kAutoscalerSites));
  if (std::find(sites.begin(), sites.end(), *v) != sites.end()) {
    s_.autoscaler = *v;
    return;
  }
  auto near = closest_match(*v, sites);
  r_.error(n, "autoscaler", "autoscaler must be 'head', 'local' or 'off', not '" + *v + "'",
           near ? "did you mean '" + *near + "'?" : std::string());
}

void Parser::parse_commands() {
  std::pair<const char*, std::vector<std::string>*> lists[] = {
      {"initialization_commands", &s_.initialization_commands},
      {"setup_commands", &s_.setup_commands},
      {"head_setup_commands", &s_.head_setup_commands},
      {"worker_setup_commands", &s_.worker_setup_commands},
      {"head_start_ray_commands", &s_.head_start_ray_commands},
      {"worker_start_ray_commands", &s_.worker_start_ray_commands},
  };
  for (auto& [key, out] : lists) {
    YAML::Node n = top(key);
    if (!n.IsDefined()) continue;
    command_given_[key] = true;
    if (auto v = r_.str_list(n, key)) *out = *v;
  }
}

std::optional<DockerSpec> Parser::parse_docker(const YAML::Node& n, const std::string& path) {
  if (!r_.expect_map(n, path)) return std::nullopt;
  r_.check_keys(n, path, kDockerKeys);
  DockerSpec d;
  auto str = [&](const char* k, std::string& out) {
    if (YAML::Node v = n[k]; present(v))
      if (auto x = r_.str(v, join_path(path, k))) out = *x;
  };
  auto list = [&](const char* k, std::vector<std::string>& out) {
    if (YAML::Node v = n[k]; present(v))
      if (auto x = r_.str_list(v, join_path(path, k))) out = *x;
  };
  auto flag = [&](const char* k, bool& out) {
    if (YAML::Node v = n[k]; present(v))
      if (auto x = r_.boolean(v, join_path(path, k))) out = *x;
  };
  str("image", d.image);
  str("head_image", d.head_image);
  str("worker_image", d.worker_image);
  str("container_name", d.container_name);
  flag("pull_before_run", d.pull_before_run);
  list("run_options", d.run_options);
  list("head_run_options", d.head_run_options);
  list("worker_run_options", d.worker_run_options);
  flag("disable_automatic_runtime_detection", d.disable_automatic_runtime_detection);
  flag("disable_shm_size_detection", d.disable_shm_size_detection);
  flag("use_podman", d.use_podman);
  // As in Ray: docker is on only when an image is named.
  if (d.image.empty() && d.head_image.empty() && d.worker_image.empty()) return std::nullopt;
  if (d.container_name.empty()) d.container_name = "ray_container";
  return d;
}

void Parser::parse_provider(const YAML::Node& n) {
  if (!r_.expect_map(n, "provider")) return;
  s_.provider.raw = r_.to_value(n);
  YAML::Node type = n["type"];
  if (!present(type)) {
    r_.error(n, "provider.type", "the provider has no type",
             "set provider.type to aws, gcp, localhost or local");
    return;
  }
  auto t = r_.str(type, "provider.type");
  if (!t) return;
  ProviderSpec& p = s_.provider;
  p.type = *t;
  const Strings* extra = nullptr;
  if (*t == "aws") {
    p.kind = ProviderKind::aws;
    extra = &kProviderAws;
  } else if (*t == "gcp") {
    p.kind = ProviderKind::gcp;
    extra = &kProviderGcp;
  } else if (*t == "localhost" || *t == "fake_multinode") {
    p.kind = ProviderKind::localhost;
  } else if (*t == "local") {
    p.kind = ProviderKind::onprem;
    extra = &kProviderOnprem;
  } else {
    auto m = closest_match(*t, kProviderTypes);
    r_.error(type, "provider.type", "unknown provider type '" + *t + "'",
             m ? "did you mean '" + *m + "'?"
               : "raycluster supports aws, gcp, localhost (alias fake_multinode) and local");
    return;
  }
  provider_ok_ = true;
  (void)extra;
  // Every provider key of Ray's schema is known; those this provider does not
  // act on are warnings (warn_provider_keys), anything else is an error.
  r_.check_keys(n, "provider", concat({&kProviderCommon, &kProviderAws, &kProviderGcp,
                                       &kProviderOnprem, &kProviderRayOnly}));
  warn_provider_keys(n);
  // Ray's GCP provider keeps stopped nodes only when asked (its default is
  // false); its AWS provider does by default.
  if (p.kind == ProviderKind::gcp) p.cache_stopped_nodes = false;

  auto str = [&](const char* k, std::string& out) {
    if (YAML::Node v = n[k]; present(v))
      if (auto x = r_.str(v, join_path("provider", k))) out = *x;
  };
  auto flag = [&](const char* k, bool& out) {
    if (YAML::Node v = n[k]; present(v))
      if (auto x = r_.boolean(v, join_path("provider", k))) out = *x;
  };
  auto list = [&](const char* k, std::vector<std::string>& out) {
    if (YAML::Node v = n[k]; present(v))
      if (auto x = r_.str_list(v, join_path("provider", k))) out = *x;
  };
  str("region", p.region);
  str("availability_zone", p.availability_zone);
  str("project_id", p.project_id);
  flag("use_internal_ips", p.use_internal_ips);
  flag("cache_stopped_nodes", p.cache_stopped_nodes);
  flag("disable_node_updaters", p.disable_node_updaters);
  flag("disable_launch_config_check", p.disable_launch_config_check);
  str("endpoint_url", p.endpoint_url);
  list("security_group_ids", p.security_group_ids);
  str("subnet_id", p.subnet_id);
  str("network", p.network);
  str("subnetwork", p.subnetwork);
  str("service_account_key", p.service_account_key);
  if (!p.service_account_key.empty()) p.service_account_key = expand(p.service_account_key);
  str("head_ip", p.head_ip);
  list("worker_ips", p.worker_ips);
  str("coordinator_address", p.coordinator_address);
  list("stop_commands", p.stop_commands);
  list("ssh_allowed_cidrs", p.ssh_allowed_cidrs);
  if (YAML::Node kp = n["key_pair"]; present(kp) && r_.expect_map(kp, "provider.key_pair")) {
    r_.check_keys(kp, "provider.key_pair", {"key_name"});
    if (YAML::Node v = kp["key_name"]; present(v))
      if (auto x = r_.str(v, "provider.key_pair.key_name")) p.key_name = *x;
  }
  if (YAML::Node sg = n["security_group"];
      present(sg) && r_.expect_map(sg, "provider.security_group")) {
    r_.check_keys(sg, "provider.security_group", {"GroupName", "IpPermissions"});
    if (YAML::Node v = sg["GroupName"]; present(v)) r_.str(v, "provider.security_group.GroupName");
    if (YAML::Node v = sg["IpPermissions"]; present(v) && !v.IsSequence())
      r_.error(v, "provider.security_group.IpPermissions",
               "expected a list of EC2 IpPermission objects");
  }
  if (YAML::Node fw = n["firewall_rules"]; present(fw))
    p.firewall_rules = parse_firewall(fw, "provider.firewall_rules");
}

void Parser::parse_auth(const YAML::Node& n) {
  if (!r_.expect_map(n, "auth")) return;
  r_.check_keys(n, "auth", kAuthKeys);
  auto str = [&](const char* k, std::string& out) {
    if (YAML::Node v = n[k]; present(v))
      if (auto x = r_.str(v, join_path("auth", k))) out = *x;
  };
  str("ssh_user", s_.auth.ssh_user);
  str("ssh_private_key", s_.auth.ssh_private_key);
  str("ssh_public_key", s_.auth.ssh_public_key);
  str("ssh_proxy_command", s_.auth.ssh_proxy_command);
  if (YAML::Node v = n["ssh_proxy_use_node_id"]; present(v))
    if (r_.boolean(v, "auth.ssh_proxy_use_node_id") == true)
      warn_no_effect("auth.ssh_proxy_use_node_id", v,
                     "ssh_proxy_command is given the node's address, not its id",
                     "use %h in ssh_proxy_command");
  s_.auth.ssh_private_key = expand(s_.auth.ssh_private_key);
  s_.auth.ssh_public_key = expand(s_.auth.ssh_public_key);
  if (YAML::Node v = n["ssh_port"]; present(v)) {
    if (auto x = r_.count(v, "auth.ssh_port")) {
      if (*x < 1 || *x > 65535)
        r_.error(v, "auth.ssh_port", "must be a TCP port (1-65535), got " + v.Scalar());
      else
        s_.auth.ssh_port = *x;
    }
  }
}

void Parser::parse_node_types(const YAML::Node& n) {
  const std::string base = "available_node_types";
  if (!r_.expect_map(n, base)) return;
  if (n.size() == 0) {
    r_.error(r_.where(base, n), base, "available_node_types is empty",
             "declare at least the head node type");
    return;
  }
  for (auto it = n.begin(); it != n.end(); ++it) {
    const auto kv = *it;
    if (!kv.first.IsScalar()) {
      r_.error(kv.first, base, "a node type name must be a plain name");
      continue;
    }
    NodeTypeSpec t;
    TypeMeta m;
    t.name = kv.first.Scalar();
    m.path = join_path(base, t.name);
    m.node = kv.second;
    const YAML::Node& v = kv.second;
    if (!r_.expect_map(v, m.path)) continue;
    if (s_.find_node_type(t.name)) {
      r_.error(kv.first, m.path, "node type '" + t.name + "' is declared twice",
               "give each node type its own name");
      continue;
    }
    r_.check_keys(v, m.path, kNodeTypeKeys);
    auto p = [&](const char* k) { return join_path(m.path, k); };
    if (YAML::Node c = v["node_config"]; present(c)) {
      if (r_.expect_map(c, p("node_config"))) t.node_config = r_.to_value(c);
    } else {
      t.node_config = Value::object();
    }
    if (YAML::Node x = v["resources"]; x.IsDefined()) {
      m.resources_given = true;
      if (auto res = r_.resources(x, p("resources"))) t.resources = *res;
    }
    if (YAML::Node x = v["labels"]; present(x))
      if (auto l = r_.str_map(x, p("labels"))) t.labels = *l;
    if (YAML::Node x = v["min_workers"]; present(x))
      if (auto c = r_.count(x, p("min_workers"))) t.min_workers = *c;
    if (YAML::Node x = v["max_workers"]; present(x)) {
      m.max_given = true;
      if (auto c = r_.count(x, p("max_workers"))) t.max_workers = *c;
    }
    if (YAML::Node x = v["initial_workers"]; present(x)) {
      m.initial_given = true;
      if (auto c = r_.count(x, p("initial_workers"))) t.initial_workers = *c;
    }
    if (YAML::Node x = v["idle_timeout_minutes"]; present(x))
      t.idle_timeout_minutes = r_.number(x, p("idle_timeout_minutes"), 0);
    // Ray's per-type idle_timeout_s (its v2 autoscaler's), in minutes here.
    if (YAML::Node x = v["idle_timeout_s"]; present(x)) {
      if (present(v["idle_timeout_minutes"]))
        r_.error(x, p("idle_timeout_s"),
                 "node type " + t.name + " gives both idle_timeout_s and idle_timeout_minutes",
                 "keep one of them");
      else if (auto sec = r_.number(x, p("idle_timeout_s"), 0))
        t.idle_timeout_minutes = *sec / 60.0;
    }
    if (YAML::Node x = v["priority"]; present(x))
      if (r_.count(x, p("priority")))
        warn_no_effect(p("priority"), x,
                       "node types are chosen by how well they fit the demand, not by priority");
    if (YAML::Node x = v["initialization_commands"]; x.IsDefined())
      t.initialization_commands = r_.str_list(x, p("initialization_commands"));
    if (YAML::Node x = v["startup_seconds"]; present(x))
      t.startup_seconds = r_.number(x, p("startup_seconds"), 0);
    if (YAML::Node x = v["worker_setup_commands"]; x.IsDefined())
      t.worker_setup_commands = r_.str_list(x, p("worker_setup_commands"));
    if (YAML::Node x = v["docker"]; present(x)) t.docker = parse_docker(x, p("docker"));
    s_.node_types.push_back(std::move(t));
    meta_.push_back(std::move(m));
  }

  YAML::Node h = top("head_node_type");
  if (!present(h)) take_default_head_type();
  if (!present(h) && !s_.head_node_type.empty()) return;
  if (!present(h)) {
    Strings names;
    for (const auto& t : s_.node_types) names.push_back(t.name);
    r_.error(r_.where(base, n), "head_node_type",
             "available_node_types is given but head_node_type is not",
             "add 'head_node_type: <one of " + join(names, ", ") + ">'");
    return;
  }
  if (auto name = r_.str(h, "head_node_type")) s_.head_node_type = *name;
}

void Parser::parse_legacy_types() {
  // Ray's rewrite_legacy_yaml_to_available_node_types.
  int min_workers = 0;
  if (YAML::Node n = top("min_workers"); present(n))
    if (auto v = r_.count(n, "min_workers")) min_workers = *v;
  std::optional<int> initial;
  if (YAML::Node n = top("initial_workers"); present(n)) initial = r_.count(n, "initial_workers");

  auto make = [&](const char* key, const char* name) {
    NodeTypeSpec t;
    TypeMeta m;
    t.name = name;
    m.path = key;
    YAML::Node n = top(key);
    if (n.IsDefined()) m.node = n;  // assigning a missing-key node throws
    t.node_config = Value::object();
    if (present(n) && r_.expect_map(n, key)) {
      t.node_config = r_.to_value(n);
      if (YAML::Node res = n["resources"]; res.IsDefined()) {
        m.resources_given = true;
        if (auto v = r_.resources(res, join_path(key, "resources"))) t.resources = *v;
        Value::Object kept;
        for (auto& member : t.node_config.as_object())
          if (member.first != "resources") kept.push_back(std::move(member));
        t.node_config = Value(std::move(kept));
      }
    }
    return std::make_pair(std::move(t), std::move(m));
  };
  // Ray names a legacy config's types so (they end up in node tags).
  auto [head, hm] = make("head_node", kRayLegacyHeadType);
  auto [worker, wm] = make("worker_nodes", kRayLegacyWorkerType);
  head.max_workers = 0;
  hm.max_given = true;
  worker.min_workers = min_workers;
  worker.max_workers = s_.max_workers;
  wm.max_given = true;
  if (initial) {
    worker.initial_workers = *initial;
    wm.initial_given = true;
  }
  s_.node_types.push_back(std::move(head));
  meta_.push_back(std::move(hm));
  s_.node_types.push_back(std::move(worker));
  meta_.push_back(std::move(wm));
  s_.head_node_type = kRayLegacyHeadType;
}

void Parser::parse_autoscaling_legacy() {
  // Ray's StandardAutoscaler: upscaling_speed wins, then aggressive mode,
  // then target_utilization_fraction f as 1/f - 1.
  bool speed_given = present(top("upscaling_speed"));
  bool aggressive = false;
  if (YAML::Node n = top("autoscaling_mode"); present(n)) {
    if (auto v = r_.str(n, "autoscaling_mode")) {
      if (*v == "aggressive")
        aggressive = true;
      else if (*v != "default")
        r_.error(n, "autoscaling_mode", "autoscaling_mode must be 'default' or 'aggressive'",
                 closest_match(*v, {"default", "aggressive"})
                     ? "did you mean '" + *closest_match(*v, {"default", "aggressive"}) + "'?"
                     : std::string());
    }
  }
  double fraction = 0;  // 0: not given
  if (YAML::Node n = top("target_utilization_fraction"); present(n)) {
    if (auto f = r_.number(n, "target_utilization_fraction", 0, 1)) {
      if (*f == 0)
        r_.error(n, "target_utilization_fraction", "must be more than 0", "Ray uses 0.8");
      else
        fraction = *f;
    }
  }
  if (speed_given) return;
  if (aggressive)
    s_.upscaling_speed = 99999;
  else if (fraction > 0)
    s_.upscaling_speed = 1.0 / fraction - 1.0;
}

ClusterSpec parse_spec(std::string_view text, const std::string& name, const std::string& base_dir,
                       const std::string& home, const SpecOptions& options) {
  auto fail = [&](int line, int column, std::string msg, std::string hint) {
    throw ConfigError({Diagnostic{SourceLocation{name, line, column}, "", std::move(msg),
                                  std::move(hint)}});
  };
  if (text.size() > options.max_file_bytes)
    fail(0, 0,
         "the config is " + std::to_string(text.size()) + " bytes, more than the limit of " +
             std::to_string(options.max_file_bytes),
         "a cluster config is a few kilobytes; check the file name "
         "(or raise SpecOptions::max_file_bytes)");
  if (text.find('\0') != std::string_view::npos || !valid_utf8(text))
    fail(1, 1, "the file is not text (it holds binary or non-UTF-8 bytes), so it is not YAML",
         "check that the path names your cluster YAML");
  if (auto line = too_deep_line(text, 64))
    fail(*line, 1, "the YAML nests deeper than 64 levels", "a cluster config needs a few levels");

  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    int line = e.mark.line >= 0 ? e.mark.line + 1 : 0;
    int column = e.mark.column >= 0 ? e.mark.column + 1 : 0;
    fail(line, column, "invalid YAML: " + e.msg, "fix the syntax at this position");
  }
  if (!root.IsDefined() || root.IsNull())
    fail(1, 1, "the config is empty",
         "write at least 'cluster_name' and 'provider' (see examples/)");
  if (!root.IsMap()) {
    Parser p(name, base_dir, home);
    p.reader().error(root, "", "the config must be a mapping of keys (cluster_name: ...)",
                     "start from one of the files in examples/");
    throw ConfigError(std::move(p.reader().diagnostics()));
  }

  Parser parser(name, base_dir, home);
  ClusterSpec spec = parser.run(root);
  auto& diags = parser.reader().diagnostics();
  if (!diags.empty()) {
    // File order; problems with no position (line 0) last.
    std::stable_sort(diags.begin(), diags.end(), [](const Diagnostic& a, const Diagnostic& b) {
      auto key = [](const Diagnostic& d) {
        return std::make_pair(d.where.line == 0 ? INT32_MAX : d.where.line, d.where.column);
      };
      return key(a) < key(b);
    });
    throw ConfigError(std::move(diags));
  }
  spec.origins = std::move(parser.reader().origins());
  spec.warnings = std::move(parser.reader().warnings());
  std::stable_sort(spec.warnings.begin(), spec.warnings.end(),
                   [](const Diagnostic& a, const Diagnostic& b) {
                     return std::make_pair(a.where.line, a.where.column) <
                            std::make_pair(b.where.line, b.where.column);
                   });
  return spec;
}

}  // namespace raycluster::detail