// Seeded fault campaigns against the EC2 provider: random sequences of
// `up`, `scale` and `down` on a Cluster whose provider talks to an
// in-process EC2 (tests/unit/aws/fake_ec2.hpp) through a fault injector,
// with invariants checked against the fake's own records.
//
// Each run has a seed. It draws a fault rate, a retry policy, whether
// stopped workers are cached, and a sequence of operations. Each operation
// runs once with faults on (it may fail), and when it failed once more with
// faults off, as a user re-running the command would; that second run must
// succeed and the cluster must then have the asked size. After every
// operation and at the end of the run:
//   - every instance the fake ever created carried the cluster's tags
//     (name, id, node kind, user node type, status, launch config) from
//     its RunInstances call on;
//   - no launch made more instances than it asked for: per idempotency
//     token (the ClientToken prefix shared by every RunInstances of one
//     create()), instances created <= the count asked;
//   - bootstrap made one key pair and one security group, however often
//     it ran;
//   - at most one live head; after `down` nothing of the cluster is live;
//   - the cluster converged to the asked size, and after `up` its head is
//     up-to-date.
//
// Faults: throttling (400 or 503 RequestLimitExceeded), server errors
// (500 InternalError, 503 Unavailable), answers lost after EC2 applied the
// request (a dropped connection), zones without capacity for a launch, and
// latency (the fake clock moves; no wall time passes, as every sleep of the
// provider goes to the fake sleeper).
//
// The head is set up over a runner that succeeds at once, by a provider
// that forwards everything else to an AwsProvider on the same context
// (Cluster::open's provider overload); workers are not set up
// (disable_node_updaters). scale and down open the cluster the way a host
// program does, with ClusterOptions::provider_context.
//
// Usage: campaign [--runs N] [--seed S] [--ops K] [--json PATH] [--quiet]
// Run r uses seed S + r: `--seed S+r --runs 1` replays it alone, and with
// CAMPAIGN_TRACE=1 in the environment it prints every request, fault and
// failed operation. Prints one line `campaign: runs=... violations=V` and
// exits 1 when V > 0.
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "aws/fake_ec2.hpp"
#include "cluster/cluster.hpp"
#include "providers/aws/aws_provider.hpp"
#include "util/fs.hpp"

using namespace raycluster;
using rctest::FakeEc2;

namespace {

using std::chrono::milliseconds;

// ---- figures -------------------------------------------------------------

struct Figures {
  long runs = 0, operations = 0, failed_under_faults = 0, requests = 0, retries = 0,
       instances_created = 0, latency_ms = 0;
  std::map<std::string, long> faults;      // kind -> count
  std::map<std::string, long> failures;    // error code of operations failed under faults
  std::vector<std::string> violations;

  long faults_total() const {
    long n = 0;
    for (const auto& [k, v] : faults) n += v;
    return n;
  }
};

// ---- the fault injector --------------------------------------------------

// Sits between the provider's retry loop and the fake EC2. Every decision
// comes from its own seeded generator, so a run replays from its seed.
class FaultInjector : public HttpTransport {
 public:
  FaultInjector(FakeEc2& ec2, std::uint64_t seed, std::atomic<std::int64_t>& clock_ms, Figures& fig)
      : ec2_(ec2), rng_(seed), clock_ms_(clock_ms), fig_(fig) {}

  void set_rate(double rate) {
    std::lock_guard<std::mutex> lock(mu_);
    rate_ = rate;
    // Zones without capacity are drawn per operation: each subnet lacks
    // capacity with the fault rate (all three now and then).
    ec2_.no_capacity.clear();
    if (rate_ > 0)
      for (const auto& s : ec2_.subnets)
        if (roll() < rate_) ec2_.no_capacity.insert(s.id);
  }

  HttpResponse send(const HttpRequest& request, const CancelToken& cancel = {}) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++fig_.requests;
    const std::string key = request.method + " " + request.url + "\n" + request.body;
    if (auto it = faulted_.find(key); it != faulted_.end()) {
      ++fig_.retries;
      faulted_.erase(it);
    }
    if (trace_) {
      auto at = request.body.find("Action=");
      std::fprintf(stderr, "  %s\n", at == std::string::npos ? request.url.c_str()
                                                              : request.body.substr(at, 60).c_str());
    }
    if (rate_ <= 0) return forward(request, cancel);
    if (roll() < rate_ / 2) {
      auto ms = static_cast<std::int64_t>(roll() * 3000);
      clock_ms_ += ms;
      fig_.latency_ms += ms;
      count("latency");
    }
    if (roll() >= rate_) return forward(request, cancel);
    faulted_.insert(key);
    switch (static_cast<int>(roll() * 3)) {
      case 0: {
        count("throttle");
        return FakeEc2::fail(roll() < 0.5 ? 400 : 503, "RequestLimitExceeded", "Request limit exceeded.");
      }
      case 1: {
        count("server_error");
        return roll() < 0.5 ? FakeEc2::fail(500, "InternalError", "An internal error has occurred")
                            : FakeEc2::fail(503, "Unavailable", "The server is overloaded");
      }
      default: {
        // EC2 applied the request; its answer never arrived.
        count("lost_answer");
        ec2_.answer(request, cancel);
        throw Error(ErrorCode::unavailable, "Connection reset by peer (lost answer)", true);
      }
    }
  }

 private:
  double roll() { return std::uniform_real_distribution<double>(0.0, 1.0)(rng_); }

  void count(const char* kind) {
    ++fig_.faults[kind];
    if (trace_) std::fprintf(stderr, "  -> %s\n", kind);
  }

  HttpResponse forward(const HttpRequest& request, const CancelToken& cancel) {
    HttpResponse r = ec2_.send(request, cancel);
    if (r.status == 500 && r.body.find("InsufficientInstanceCapacity") != std::string::npos) {
      count("capacity");
      faulted_.insert(request.method + " " + request.url + "\n" + request.body);
    }
    return r;
  }

  std::mutex mu_;
  FakeEc2& ec2_;
  std::mt19937_64 rng_;
  std::atomic<std::int64_t>& clock_ms_;
  Figures& fig_;
  double rate_ = 0;
  const bool trace_ = std::getenv("CAMPAIGN_TRACE") != nullptr;
  std::multiset<std::string> faulted_;  // requests answered with a fault, awaiting their retry
};

// ---- a provider whose nodes are set up at once ---------------------------

class ReadyRunner : public CommandRunner {
 public:
  CommandResult run(const std::string&, const CommandOptions&) override {
    CommandResult r;
    r.exit_status = 0;
    return r;
  }
  void upload(const std::string&, const std::string&) override {}
  void download(const std::string&, const std::string&) override {}
  std::string describe() const override { return "ready runner"; }
  void wait_ready(std::chrono::steady_clock::time_point, const CancelToken&) override {}
};

// Everything but command_runner() goes to the AwsProvider.
class SetupFreeProvider : public Provider {
 public:
  explicit SetupFreeProvider(std::unique_ptr<Provider> aws) : aws_(std::move(aws)) {}
  std::string name() const override { return aws_->name(); }
  void bootstrap(const EventSink& e, const CancelToken& c) override { aws_->bootstrap(e, c); }
  std::vector<Node> create(const LaunchRequest& r) override { return aws_->create(r); }
  std::vector<Node> list(const Tags& f) override { return aws_->list(f); }
  void terminate(const std::vector<std::string>& ids) override { aws_->terminate(ids); }
  void set_tags(const std::vector<std::string>& ids, const Tags& t) override { aws_->set_tags(ids, t); }
  void post_tags(const std::vector<std::string>& ids, const Tags& t) override { aws_->post_tags(ids, t); }
  std::unique_ptr<CommandRunner> command_runner(const Node&) override {
    return std::make_unique<ReadyRunner>();
  }
  void teardown(const EventSink& e, const CancelToken& c) override { aws_->teardown(e, c); }
  std::vector<std::string> cluster_ids_in_use(const CancelToken& c) override {
    return aws_->cluster_ids_in_use(c);
  }

 private:
  std::unique_ptr<Provider> aws_;
};

// ---- one run -------------------------------------------------------------

std::string config(int min_workers, bool cache_stopped) {
  // The autoscaler runs where the campaign runs it (the head's would be
  // told each `scale` over SSH, which the fake's instances have no address for).
  return "cluster_name: camp\n"
         "autoscaler: local\n"
         "max_workers: 20\n"
         "provider:\n"
         "  type: aws\n"
         "  region: us-east-1\n"
         "  endpoint_url: http://127.0.0.1:9\n"
         "  cache_stopped_nodes: " + std::string(cache_stopped ? "true" : "false") + "\n"
         "  disable_node_updaters: true\n"
         "auth: {ssh_user: ubuntu}\n"
         "available_node_types:\n"
         "  head:\n"
         "    node_config: {InstanceType: m5.large}\n"
         "  worker:\n"
         "    min_workers: " + std::to_string(min_workers) + "\n"
         "    max_workers: 20\n"
         "    node_config: {InstanceType: m5.large}\n"
         "head_node_type: head\n";
}

enum class Op { up, scale, down, down_workers };

struct Step {
  Op op;
  int n = 0;  // workers for up and scale
  std::string describe() const {
    switch (op) {
      case Op::up: return "up " + std::to_string(n);
      case Op::scale: return "scale " + std::to_string(n);
      case Op::down: return "down";
      case Op::down_workers: return "down --workers-only";
    }
    return "?";
  }
};

class Run {
 public:
  Run(std::uint64_t seed, int max_ops, Figures& fig)
      : seed_(seed), rng_(seed), fig_(fig), injector_(ec2_, seed ^ 0x9e3779b97f4a7c15ULL, clock_ms_, fig) {
    char tmpl[] = "/tmp/rc-campaign-XXXXXX";
    if (!mkdtemp(tmpl)) throw Error(ErrorCode::io, "mkdtemp failed");
    root_ = tmpl;
    ec2_.stream_piece = 512;
    rate_ = 0.05 + 0.35 * roll();
    cache_stopped_ = roll() < 0.5;
    attempts_ = std::vector<int>{2, 3, 5}[static_cast<std::size_t>(roll() * 3)];
    ops_ = 2 + static_cast<int>(roll() * (max_ops - 1));
  }
  ~Run() { detail::remove_tree(root_); }

  void run() {
    ++fig_.runs;
    {
      // The cluster's id, made by its state folder as the first command would.
      auto c = Cluster::open(spec(0), options());
      auto st = c->status();
      cluster_id_ = st.cluster_id;
      state_dir_ = c->state_dir();
    }
    int last_up = 0;
    for (int i = 0; i < ops_ && fig_.violations.size() < 50; ++i) {
      Step s;
      double r = roll();
      if (r < 0.30) s = {Op::up, static_cast<int>(roll() * 5)};
      else if (r < 0.40) s = {Op::up, last_up};  // the same up again
      else if (r < 0.65) s = {Op::scale, static_cast<int>(roll() * 6)};
      else if (r < 0.80) s = {Op::down_workers, 0};
      else s = {Op::down, 0};
      if (s.op == Op::up) last_up = s.n;
      step(s);
    }
    // Tear down what is left with faults off; nothing may stay.
    step({Op::down, 0}, /*faults=*/false);
    fig_.instances_created += static_cast<long>(ec2_.instances.size());
  }

 private:
  double roll() { return std::uniform_real_distribution<double>(0.0, 1.0)(rng_); }

  ClusterSpec spec(int min_workers) const {
    return load_spec_string(config(min_workers, cache_stopped_), "camp.yaml");
  }

  ProviderContext context() {
    ProviderContext c;
    c.transport = std::shared_ptr<HttpTransport>(std::shared_ptr<void>(), &injector_);  // not owned
    c.env.getenv = [](const std::string& k) -> std::optional<std::string> {
      if (k == "AWS_ACCESS_KEY_ID") return std::string("AKIDCAMPAIGN");
      if (k == "AWS_SECRET_ACCESS_KEY") return std::string("secret");
      return std::nullopt;
    };
    c.env.home = root_;
    auto* clock = &clock_ms_;
    c.now = [clock] { return std::chrono::system_clock::from_time_t(1767225600) + milliseconds(clock->load()); };
    c.sleep = [clock](milliseconds d, const CancelToken& cancel) {
      *clock += d.count();
      return !cancel.cancelled();
    };
    // Jitter from the run's seed, behind a lock (the tag batcher's thread may ask too).
    auto jitter = std::make_shared<std::pair<std::mutex, std::mt19937_64>>();
    jitter->second.seed(seed_ + 17);
    c.random = [jitter] {
      std::lock_guard<std::mutex> lock(jitter->first);
      return std::uniform_real_distribution<double>(0.0, 1.0)(jitter->second);
    };
    c.retry.max_attempts = attempts_;
    return c;
  }

  ClusterOptions options() {
    ClusterOptions o;
    o.state_root = root_;
    o.provider_context = context();
    o.retry_backoff = milliseconds(0);
    return o;
  }

  // `up` sets the head up: through a provider whose runner succeeds.
  std::unique_ptr<Cluster> open_for_up(int min_workers) {
    up_spec_ = std::make_unique<ClusterSpec>(spec(min_workers));
    detail::ClusterIdentity id{up_spec_->cluster_name, cluster_id_, state_dir_, false};
    auto aws = std::make_unique<detail::ec2::AwsProvider>(*up_spec_, id, context());
    return Cluster::open(*up_spec_, options(), std::make_unique<SetupFreeProvider>(std::move(aws)));
  }

  void apply(const Step& s) {
    switch (s.op) {
      case Op::up: open_for_up(s.n)->up(); break;
      case Op::scale: {
        ScaleOptions so;
        so.workers = s.n;
        Cluster::open(spec(0), options())->scale(so);
        break;
      }
      case Op::down: Cluster::open(spec(0), options())->down(); break;
      case Op::down_workers: {
        DownOptions d;
        d.workers_only = true;
        Cluster::open(spec(0), options())->down(d);
        break;
      }
    }
  }

  struct Live {
    int heads = 0, workers = 0, all = 0;
    std::string head_status;  // ray-node-status of the (last) live head
  };
  Live live() const {
    Live l;
    for (const auto& i : ec2_.instances) {
      if (i.state != "pending" && i.state != "running") {
        if (i.state == "stopping" || i.state == "stopped") ++l.all;
        continue;
      }
      ++l.all;
      auto kind = i.tags.find("ray-node-type");
      if (kind == i.tags.end()) continue;
      if (kind->second == "head") {
        ++l.heads;
        auto st = i.tags.find("ray-node-status");
        l.head_status = st == i.tags.end() ? "" : st->second;
      }
      if (kind->second == "worker") ++l.workers;
    }
    return l;
  }

  void violation(const Step& s, const std::string& what) {
    fig_.violations.push_back("seed " + std::to_string(seed_) + " after `" + s.describe() + "`: " + what);
  }

  void step(const Step& s, bool faults = true) {
    ++fig_.operations;
    const Live before = live();
    bool failed_twice = false;
    ErrorCode last = ErrorCode::internal;
    std::string last_msg;
    injector_.set_rate(faults ? rate_ : 0);
    try {
      apply(s);
    } catch (const Error& e) {
      ++fig_.failed_under_faults;
      ++fig_.failures[error_code_name(e.code())];
      if (std::getenv("CAMPAIGN_TRACE"))
        std::fprintf(stderr, "seed %llu `%s` failed under faults: %s: %s\n",
                     static_cast<unsigned long long>(seed_), s.describe().c_str(),
                     error_code_name(e.code()), e.what());
      injector_.set_rate(0);
      try {
        apply(s);
      } catch (const Error& e2) {
        failed_twice = true;
        last = e2.code();
        last_msg = e2.what();
      }
    }
    injector_.set_rate(0);
    const Live after = live();
    // scale without a head is refused, with faults or without.
    const bool refused = s.op == Op::scale && before.heads == 0;
    if (failed_twice && !(refused && last == ErrorCode::not_found))
      violation(s, std::string("did not converge with faults off: ") + error_code_name(last) + ": " + last_msg);
    if (refused && !failed_twice) violation(s, "scale without a head succeeded");
    if (after.heads > 1) violation(s, std::to_string(after.heads) + " live heads");
    auto expect = [&](const char* what, int got, int want) {
      if (got != want)
        violation(s, std::string(what) + ": " + std::to_string(got) + " live, expected " + std::to_string(want));
    };
    switch (s.op) {
      case Op::up:
        expect("heads", after.heads, 1);
        expect("workers", after.workers, std::max(before.workers, s.n));
        if (after.head_status != "up-to-date") violation(s, "the head is " + after.head_status);
        break;
      case Op::scale:
        expect("heads", after.heads, before.heads);
        expect("workers", after.workers, refused ? before.workers : s.n);
        break;
      case Op::down_workers:
        expect("heads", after.heads, before.heads);
        expect("workers", after.workers, 0);
        break;
      case Op::down:
        expect("instances (any state but terminating)", after.all, 0);
        break;
    }
    check_records(s);
  }

  // Against everything the fake ever created.
  void check_records(const Step& s) {
    std::map<std::string, std::pair<int, int>> per_request;  // token prefix -> made, asked (max)
    for (std::size_t li = checked_launches_; li < ec2_.launches.size(); ++li) {
      for (const auto& i : ec2_.launches[li].made) {
        auto tag = [&](const char* k) {
          auto it = i.tags.find(k);
          return it == i.tags.end() ? std::string() : it->second;
        };
        std::string kind = tag("ray-node-type");
        std::string missing;
        if (tag("ray-cluster-name") != "camp") missing += " ray-cluster-name";
        if (tag("raycluster-id") != cluster_id_) missing += " raycluster-id";
        if (kind != "head" && kind != "worker") missing += " ray-node-type";
        if (tag("ray-user-node-type") != kind) missing += " ray-user-node-type";
        if (tag("ray-node-status").empty()) missing += " ray-node-status";
        if (tag("ray-launch-config").empty()) missing += " ray-launch-config";
        if (!missing.empty()) violation(s, i.id + " created without the cluster's tags:" + missing);
      }
    }
    checked_launches_ = ec2_.launches.size();
    for (const auto& l : ec2_.launches) {
      // client_token(): "rc" + 32 hex + "-" + 16 hex; the prefix names the create().
      std::string prefix = l.token.substr(0, l.token.find('-') + 1);
      if (l.token.empty()) {
        violation(s, "a launch without a ClientToken");
        continue;
      }
      auto& pr = per_request[prefix];
      pr.first += static_cast<int>(l.made.size());
      pr.second = std::max(pr.second, l.asked);
    }
    for (const auto& [prefix, pr] : per_request)
      if (pr.first > pr.second && reported_.insert(prefix).second)
        violation(s, "token " + prefix + " created " + std::to_string(pr.first) +
                         " instances for a launch of " + std::to_string(pr.second));
    // What bootstrap makes, it makes once: one key pair, one security group.
    int keys = 0, groups = 0;
    for (const auto& [name, pub] : ec2_.key_pairs) keys += name.rfind("raycluster_camp_", 0) == 0;
    for (const auto& g : ec2_.groups) groups += g.name == "raycluster-camp";
    if (keys > 1 && reported_.insert("keys").second)
      violation(s, std::to_string(keys) + " key pairs made for the cluster");
    if (groups > 1 && reported_.insert("groups").second)
      violation(s, std::to_string(groups) + " security groups made for the cluster");
  }

  std::uint64_t seed_;
  std::mt19937_64 rng_;
  Figures& fig_;
  FakeEc2 ec2_;
  std::atomic<std::int64_t> clock_ms_{0};
  FaultInjector injector_;
  std::string root_;
  std::string cluster_id_, state_dir_;
  std::unique_ptr<ClusterSpec> up_spec_;
  double rate_ = 0;
  bool cache_stopped_ = false;
  int attempts_ = 5;
  int ops_ = 0;
  std::size_t checked_launches_ = 0;
  std::set<std::string> reported_;  // violations of the records, reported once per run
};

std::string json_of(const Figures& f, std::uint64_t seed, double wall_s) {
  std::ostringstream o;
  o << "{\"seed\": " << seed << ", \"runs\": " << f.runs << ", \"operations\": " << f.operations
    << ", \"operations_failed_under_faults\": " << f.failed_under_faults
    << ", \"requests\": " << f.requests << ", \"faults\": {";
  bool first = true;
  for (const auto& [k, v] : f.faults) {
    o << (first ? "" : ", ") << "\"" << k << "\": " << v;
    first = false;
  }
  o << "}, \"failures_under_faults\": {";
  first = true;
  for (const auto& [k, v] : f.failures) {
    o << (first ? "" : ", ") << "\"" << k << "\": " << v;
    first = false;
  }
  o << "}, \"retries\": " << f.retries << ", \"instances_created\": " << f.instances_created
    << ", \"simulated_latency_ms\": " << f.latency_ms << ", \"violations\": " << f.violations.size()
    << ", \"wall_s\": " << wall_s << "}\n";
  return o.str();
}

}  // namespace

int main(int argc, char** argv) {
  long runs = 300;
  std::uint64_t seed = 1;
  int max_ops = 8;
  std::string json_path;
  bool quiet = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << a << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--runs") runs = std::stol(value());
    else if (a == "--seed") seed = std::stoull(value());
    else if (a == "--ops") max_ops = std::max(2, std::stoi(value()));
    else if (a == "--json") json_path = value();
    else if (a == "--quiet") quiet = true;
    else {
      std::cerr << "usage: campaign [--runs N] [--seed S] [--ops K] [--json PATH] [--quiet]\n";
      return 2;
    }
  }
  Figures fig;
  auto start = std::chrono::steady_clock::now();
  for (long r = 0; r < runs; ++r) {
    try {
      Run run(seed + static_cast<std::uint64_t>(r), max_ops, fig);
      run.run();
    } catch (const std::exception& e) {
      fig.violations.push_back("seed " + std::to_string(seed + static_cast<std::uint64_t>(r)) +
                               ": the run itself failed: " + e.what());
    }
  }
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (std::size_t i = 0; i < fig.violations.size() && i < 20; ++i)
    std::cerr << "violation: " << fig.violations[i] << "\n";
  std::printf("campaign: runs=%ld seed=%llu operations=%ld failed_under_faults=%ld faults=%ld", fig.runs,
              static_cast<unsigned long long>(seed), fig.operations, fig.failed_under_faults,
              fig.faults_total());
  for (const char* k : {"throttle", "server_error", "lost_answer", "capacity", "latency"})
    std::printf(" %s=%ld", k, fig.faults.count(k) ? fig.faults.at(k) : 0L);
  std::printf(" retries=%ld requests=%ld violations=%zu\n", fig.retries, fig.requests, fig.violations.size());
  if (!quiet) {
    std::string failures;
    for (const auto& [k, v] : fig.failures) failures += " " + k + "=" + std::to_string(v);
    std::printf("failed under faults by error:%s; %.1f s\n", failures.c_str(), wall);
  }
  if (!json_path.empty()) {
    std::ofstream out(json_path);
    out << json_of(fig, seed, wall);
  }
  return fig.violations.empty() ? 0 : 1;
}
