// Label writes: setLabels with the fingerprint last seen, operations checked
// later (see LabelWrite in gcp_provider.hpp).
#include "providers/gcp/gcp_provider.hpp"
#include "providers/gcp/labels.hpp"
#include "util/error.hpp"
#include "util/parallel.hpp"

namespace raycluster::detail::gce {

void GcpProvider::remember(const std::vector<Instance>& seen) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& in : seen) {
    Instance& known = known_[in.name];
    known = in;
    auto w = writes_.find(in.name);
    if (w == writes_.end()) continue;
    if (w->second.labels == in.labels)
      writes_.erase(w);  // Compute shows the labels sent: the write is done
    else
      known.label_fingerprint.clear();  // read before the write took effect
  }
}

void GcpProvider::forget(const std::vector<std::string>& names) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& n : names) {
    known_.erase(n);
    writes_.erase(n);
    zone_by_name_.erase(n);
  }
}

bool GcpProvider::writes_pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  return !writes_.empty();
}

bool GcpProvider::finish_write(const std::string& name, const LabelWrite& write) {
  try {
    client_->wait(write.op);
  } catch (const GceError& e) {
    if (e.code() == ErrorCode::not_found) return true;  // the instance is gone
    return false;
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (auto k = known_.find(name); k != known_.end()) {
    k->second.labels = write.labels;
    k->second.label_fingerprint.clear();
  }
  return true;
}

void GcpProvider::settle_writes(std::vector<Instance>& listed) {
  std::vector<std::pair<std::size_t, LabelWrite>> open;  // index in listed, write
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (std::size_t i = 0; i < listed.size(); ++i)
      if (auto w = writes_.find(listed[i].name); w != writes_.end()) {
        open.emplace_back(i, std::move(w->second));
        writes_.erase(w);
      }
  }
  if (open.empty()) return;
  std::vector<char> done(open.size(), 0);
  parallel_for(open.size(), kParallelCalls, [&](std::size_t j) {
    done[j] = finish_write(listed[open[j].first].name, open[j].second);
  });
  for (std::size_t j = 0; j < open.size(); ++j) {
    Instance& in = listed[open[j].first];
    if (!done[j]) set_labels(in.name, open[j].second.set, open[j].second.remove);
    std::lock_guard<std::mutex> lock(mu_);
    if (auto k = known_.find(in.name); k != known_.end()) in.labels = k->second.labels;
  }
}

void GcpProvider::set_labels(const std::string& name, const Tags& set,
                             const std::vector<std::string>& remove) {
  const auto encoded = to_labels(set);
  for (int attempt = 1;; ++attempt) {
    std::optional<Instance> in;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto k = known_.find(name);
      if (k != known_.end() && !k->second.label_fingerprint.empty() && !writes_.count(name))
        in = k->second;
    }
    if (!in) {
      in = get_instance(name);  // confirms an earlier write that shows
      if (!in) return;          // vanished: nothing to label
      std::optional<LabelWrite> earlier;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (auto w = writes_.find(name); w != writes_.end()) {
          earlier = std::move(w->second);
          writes_.erase(w);
        }
      }
      if (earlier) {
        // Not shown yet: wait for it (sent again when it failed), then re-read.
        if (!finish_write(name, *earlier)) set_labels(name, earlier->set, earlier->remove);
        continue;
      }
    }
    auto labels = in->labels;
    for (const auto& k : remove) labels.erase(k);
    for (const auto& [k, v] : encoded) labels[k] = v;
    Value body = Value::object();
    Value lv = Value::object();
    for (const auto& [k, v] : labels) lv.set(k, v);
    body.set("labels", std::move(lv));
    body.set("labelFingerprint", in->label_fingerprint);
    try {
      Value op = client_->call("POST", "zones/" + query_encode(in->zone) + "/instances/" +
                                           query_encode(name) + "/setLabels",
                               &body);
      if (op.find("status") && op.find("status")->is_string() &&
          op.find("status")->as_string() == "DONE") {
        client_->wait(op);  // throws its error; makes no call
        remember({[&] {
          Instance done = *in;
          done.labels = labels;
          done.label_fingerprint.clear();
          return done;
        }()});
        return;
      }
      std::lock_guard<std::mutex> lock(mu_);
      Instance& known = known_[name];
      known = *in;
      known.labels = labels;
      known.label_fingerprint.clear();  // Compute gives the new one with the instance
      writes_[name] = LabelWrite{std::move(op), labels, set, remove};
      return;
    } catch (const GceError& e) {
      if (e.code() == ErrorCode::not_found) return;
      // 412 conditionNotMet: the labels changed since they were read.
      if (e.status() != 412 || attempt >= kLabelAttempts) throw;
      std::lock_guard<std::mutex> lock(mu_);
      if (auto k = known_.find(name); k != known_.end()) k->second.label_fingerprint.clear();
    }
  }
}

}  // namespace raycluster::detail::gce
