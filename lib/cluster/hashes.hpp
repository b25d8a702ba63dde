// The config hashes that decide whether a node must be relaunched (launch
// hash: what the cloud made it from) or set up again (runtime hash: what
// setup put on it). Ray keeps the same two in its node tags.
#pragma once

#include <string>

#include "util/node.hpp"
#include "spec/spec.hpp"

namespace raycluster::detail {

std::string launch_hash(const ClusterSpec& spec, const NodeTypeSpec& type, NodeKind kind);
// Covers file mount contents (only their remote paths with
// file_mounts_sync_continuously), commands, resources, labels and docker.
std::string runtime_hash(const ClusterSpec& spec, const NodeTypeSpec& type, NodeKind kind);
// Content hash of the local side of the file mounts: what is copied of them
// (rsync_exclude and rsync_filter applied).
std::string file_mounts_hash(const ClusterSpec& spec);

// The commands a node of this type and kind runs, in order.
const std::vector<std::string>& setup_commands_for(const ClusterSpec& spec,
                                                   const NodeTypeSpec& type, NodeKind kind);
const std::vector<std::string>& start_commands_for(const ClusterSpec& spec, NodeKind kind);

}  // namespace raycluster::detail
