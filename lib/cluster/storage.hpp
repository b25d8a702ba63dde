// The cluster's volumes through their life: placed and attached at `up`,
// unmounted and detached (kept) at `down`, deleted by `down --delete-storage`.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "providers/common/provider.hpp"
#include "spec/spec.hpp"
#include "util/event.hpp"
#include "util/node.hpp"

namespace raycluster::detail {

using StorageLog = std::function<void(const std::string& message, LogLevel level)>;

class Storage {
 public:
  Storage(const ClusterSpec& spec, Provider& provider, StorageLog log)
      : spec_(spec), provider_(provider), log_(std::move(log)) {}

  // Throws Error(unsupported) naming the provider when the config has
  // volumes the provider cannot make. Nothing when there are none.
  void check_supported() const;
  // Before the head launches: the existing volumes of the head decide its zone.
  void place_head(const CancelToken& cancel);
  // Attaches and mounts each volume on the nodes it belongs to (the head for
  // the head type). A node must accept commands; waits for it.
  void attach_and_mount(const std::vector<Node>& nodes, const CancelToken& cancel);
  // `down`: unmounts (best effort) and detaches the volumes of `nodes`; kept.
  void release(const std::vector<Node>& nodes, const CancelToken& cancel);
  // `down --delete-storage`: deletes every volume of the cluster; returns their names.
  std::vector<std::string> delete_all(const CancelToken& cancel);

  // The volumes of the config that `node` gets.
  std::vector<const VolumeSpec*> volumes_of(const Node& node) const;

 private:
  void mount_on(CommandRunner& runner, const Node& node, const VolumeAttachment& a,
                const VolumeSpec& v, const CancelToken& cancel);

  const ClusterSpec& spec_;
  Provider& provider_;
  StorageLog log_;
};

}  // namespace raycluster::detail
