"""The cluster config of the AWS suites: a head and a worker type of one
node_config, whose setup and start commands only leave marks (files named
after the instance, in `marks`) for the tests to read."""


def write_config(path, name, *, provider, auth, node_config, workers, max_workers, marks, autoscaler=None):
    """Writes the config to `path` and returns it. provider and auth: the
    keys of those sections ({key: YAML text}); node_config: its flow-style
    YAML text, as both node types get it; autoscaler: the key's value, or
    None for the default (head)."""
    lines = [f"cluster_name: {name}", f"max_workers: {max_workers}", "provider:"]
    if autoscaler is not None:
        lines.insert(1, f"autoscaler: {autoscaler}")
    lines += [f"  {k}: {v}" for k, v in provider.items()]
    lines.append("auth:")
    lines += [f"  {k}: {v}" for k, v in auth.items()]
    lines += [
        "available_node_types:",
        "  head:",
        "    resources: {}",
        f"    node_config: {node_config}",
        "  worker:",
        f"    min_workers: {workers}",
        f"    max_workers: {max_workers}",
        "    resources: {}",
        f"    node_config: {node_config}",
        "head_node_type: head",
        "setup_commands:",
        f"  - echo setup >> {marks}/$RAY_CLOUD_INSTANCE_ID.setup",
        "head_start_ray_commands:",
        f"  - echo head >> {marks}/$RAY_CLOUD_INSTANCE_ID.start",
        "worker_start_ray_commands:",
        f"  - echo worker $RAY_HEAD_IP >> {marks}/$RAY_CLOUD_INSTANCE_ID.start",
    ]
    path.write_text("\n".join(lines) + "\n")
    return path
