"""Every property path of Ray's own ray-schema.json (read from the installed
ray package) is accepted by `raycluster validate`, and is either acted on
(its value shows in the normalised spec, checked below per path) or reported
as a warning naming the key and saying it has no effect here."""
import copy
import json

import pytest
import yaml

from conftest import RAY_SCHEMA

WORKER = "ray.worker.default"


def schema_paths():
    """(dotted path, schema node) for every property Ray's schema names;
    pattern properties (node type names, resource and label names) as '*'."""
    schema = json.loads(RAY_SCHEMA.read_text())
    out = []

    def walk(prefix, node):
        for key, sub in node.get("properties", {}).items():
            path = f"{prefix}{key}"
            out.append((path, sub))
            walk(path + ".", sub)
        for sub in node.get("patternProperties", {}).values():
            out.append((prefix + "*", sub))
            walk(prefix + "*.", sub)

    walk("", schema)
    return out


def base(kind):
    config = {
        "cluster_name": "schema",
        "max_workers": 4,
        "auth": {"ssh_user": "ubuntu"},
        "head_node_type": "ray.head.default",
    }
    if kind == "aws":
        config["provider"] = {"type": "aws", "region": "us-east-1"}
        node_config = {"InstanceType": "m5.large"}
    else:
        config["provider"] = {"type": "gcp", "region": "us-central1",
                              "availability_zone": "us-central1-a", "project_id": "p-1"}
        node_config = {"machineType": "n1-standard-2"}
    config["available_node_types"] = {
        "ray.head.default": {"resources": {"CPU": 2}, "node_config": dict(node_config)},
        WORKER: {"resources": {"CPU": 2}, "node_config": dict(node_config)},
    }
    return config


# A value per path that differs from every default, so that acting on it shows.
SAMPLES = {
    "max_workers": 7, "upscaling_speed": 2.5, "idle_timeout_minutes": 9,
    "head_node_type": "ray.head.default",
    "file_mounts": {"/tmp/schema": "/etc/hostname"},
    "provider.cache_stopped_nodes": None,  # set per provider: the other value
    "provider.use_internal_ips": True, "provider.disable_node_updaters": True,
    "docker.pull_before_run": False,
    "provider.gcp_credentials.type": "credentials_token",
    "available_node_types.*.min_workers": 1, "available_node_types.*.max_workers": 3,
    "available_node_types.*.idle_timeout_s": 120, "available_node_types.*.priority": 2,
    "available_node_types.*.resources": {"GPU": 1},
    "available_node_types.*.resources.*": 3,
    "available_node_types.*.labels": {"team": "a"},
    "available_node_types.*.labels.*": "b",
    "available_node_types.*.docker.pull_before_run": False,
}
BY_TYPE = {"string": "x1", "integer": 1, "number": 1.5, "boolean": True,
           "array": ["x1"], "object": {"k1": "v1"}}


def sample(path, node, kind):
    if path in SAMPLES and SAMPLES[path] is not None:
        return SAMPLES[path]
    if "properties" in node or "patternProperties" in node:
        return None  # a section: its keys are the paths tested
    if path == "available_node_types.*.node_config":
        return base(kind)["available_node_types"][WORKER]["node_config"] | {"Extra1": "x1"}
    if path == "provider.cache_stopped_nodes":
        return kind != "aws"
    if path in SAMPLES:
        return SAMPLES[path]
    t = node.get("type")
    if isinstance(t, list):
        t = next(x for x in t if x != "null")
    if t is None:  # the command lists and no_restart have no type in Ray's schema
        return True if path == "no_restart" else ["echo x1"]
    return copy.deepcopy(BY_TYPE[t])


def put(config, path, value):
    """Sets `path` in the config; '*' is the worker type, or a name of its own."""
    if value is None:
        parts = path.split(".")
        node = config
        for part in parts:
            part = WORKER if part == "*" else part
            node = node.setdefault(part, {})
        return config
    parts = path.split(".")
    node = config
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if part == "*":
            part = WORKER if parts[i - 1] == "available_node_types" else "custom1"
        if last:
            node[part] = value
        else:
            node = node.setdefault(part, {})
    # docker is on only with an image: give one where the key is not it.
    # Ray wants an image and a container name together.
    if path.startswith("docker.") and path != "docker.image":
        config["docker"].setdefault("image", "rayproject/ray:2.60.0")
    if path.startswith("docker.") and path != "docker.container_name":
        config["docker"].setdefault("container_name", "ray_container")
    if path == "auth.ssh_proxy_use_node_id":  # Ray wants it with a proxy command
        config["auth"]["ssh_proxy_command"] = "nc %h %p"
    if path.startswith("available_node_types.*.docker.") and path != \
            "available_node_types.*.docker.worker_image":
        config["available_node_types"][WORKER]["docker"].setdefault("worker_image", "img1")
    return config


def node_type(spec, name=WORKER):
    return next(t for t in spec["node_types"] if t["name"] == name)


def same(a, b):
    return a == b


# How each path acted on shows in the normalised spec (value -> spec -> bool).
ACTED = {
    "cluster_name": lambda v, s: s["cluster_name"] == v,
    "max_workers": lambda v, s: s["max_workers"] == v,
    "upscaling_speed": lambda v, s: s["upscaling_speed"] == v,
    "idle_timeout_minutes": lambda v, s: s["idle_timeout_minutes"] == v,
    "head_node_type": lambda v, s: s["head_node_type"] == v,
    "file_mounts": lambda v, s: s["file_mounts"] == v,
    "rsync_exclude": lambda v, s: s["rsync_exclude"] == v,
    "rsync_filter": lambda v, s: s["rsync_filter"] == v,
    "cluster_synced_files": lambda v, s: s["cluster_synced_files"] == v,
    "file_mounts_sync_continuously": lambda v, s: s["file_mounts_sync_continuously"] == v,
    "provider.region": lambda v, s: s["provider"]["region"] == v,
    "provider.availability_zone": lambda v, s: s["provider"]["availability_zone"] == v,
    "provider.use_internal_ips": lambda v, s: s["provider"]["use_internal_ips"] == v,
    "provider.cache_stopped_nodes": lambda v, s: s["provider"]["cache_stopped_nodes"] == v,
    "provider.disable_node_updaters": lambda v, s: s["provider"]["disable_node_updaters"] == v,
    "auth.ssh_user": lambda v, s: s["auth"]["ssh_user"] == v,
    "auth.ssh_public_key": lambda v, s: s["auth"]["ssh_public_key"] == v,
    "auth.ssh_private_key": lambda v, s: s["auth"]["ssh_private_key"] == v,
    "auth.ssh_proxy_command": lambda v, s: s["auth"]["ssh_proxy_command"] == v,
    "available_node_types": lambda v, s: True,
    "available_node_types.*": lambda v, s: True,
    "available_node_types.*.node_config": lambda v, s: node_type(s)["node_config"] == v,
    "available_node_types.*.min_workers": lambda v, s: node_type(s)["min_workers"] == v,
    "available_node_types.*.max_workers": lambda v, s: node_type(s)["max_workers"] == v,
    "available_node_types.*.idle_timeout_s":
        lambda v, s: node_type(s)["idle_timeout_minutes"] * 60 == v,
    "available_node_types.*.resources": lambda v, s: node_type(s)["resources"] == v,
    "available_node_types.*.resources.*":
        lambda v, s: node_type(s)["resources"]["custom1"] == v,
    "available_node_types.*.labels": lambda v, s: node_type(s)["labels"] == v,
    "available_node_types.*.labels.*": lambda v, s: node_type(s)["labels"]["custom1"] == v,
    "available_node_types.*.initialization_commands":
        lambda v, s: node_type(s)["commands"]["initialization_commands"] == v,
    "available_node_types.*.worker_setup_commands":
        lambda v, s: node_type(s)["commands"]["setup_commands"] == v,
    "available_node_types.*.docker": lambda v, s: True,
    "available_node_types.*.docker.pull_before_run":
        lambda v, s: node_type(s)["docker"]["pull_before_run"] == v,
    "available_node_types.*.docker.worker_image":
        lambda v, s: node_type(s)["docker"]["worker_image"] == v,
    "available_node_types.*.docker.worker_run_options":
        lambda v, s: node_type(s)["docker"]["worker_run_options"] == v,
    "provider": lambda v, s: True, "auth": lambda v, s: True, "docker": lambda v, s: True,
}
for _key in ("initialization_commands", "setup_commands", "head_setup_commands",
             "worker_setup_commands", "head_start_ray_commands", "worker_start_ray_commands"):
    ACTED[_key] = lambda v, s, k=_key: s[k] == v
for _key in ("image", "container_name", "pull_before_run", "run_options", "head_image",
             "head_run_options", "worker_image", "worker_run_options",
             "disable_automatic_runtime_detection", "disable_shm_size_detection", "use_podman"):
    ACTED["docker." + _key] = lambda v, s, k=_key: s["docker"][k] == v

# Per provider: keys its own provider acts on.
ACTED_BY_PROVIDER = {
    "aws": {"provider.subnet_id": lambda v, s: s["provider"]["subnet_id"] == v},
    "gcp": {"provider.project_id": lambda v, s: s["provider"]["project_id"] == v,
            # read by the GCP provider from the provider mapping as written
            "provider.gcp_credentials": None},
}

SKIP = {"provider.type"}  # the provider itself, chosen by the base config


def cases():
    for kind in ("aws", "gcp"):
        for path, node in schema_paths():
            if path not in SKIP:
                yield pytest.param(kind, path, node, id=f"{kind}:{path}")


def test_the_schema_is_read_from_ray_and_has_the_known_paths():
    paths = {p for p, _ in schema_paths()}
    assert len(paths) > 60
    for p in ("provider.cloudwatch", "docker.use_podman", "available_node_types.*.idle_timeout_s",
              "metadata", "rsync_filter", "auth.ssh_proxy_use_node_id"):
        assert p in paths


@pytest.mark.parametrize("kind, path, node", list(cases()))
def test_every_key_of_rays_schema_is_accepted_and_acted_on_or_warned(compat, kind, path, node):
    value = sample(path, node, kind)
    config = put(base(kind), path, value)
    # Ray requires gcp_credentials.type, whichever of its keys is tested.
    if "gcp_credentials" in config["provider"]:
        config["provider"]["gcp_credentials"].setdefault("type", "credentials_token")
    text = yaml.safe_dump(config, sort_keys=False)
    compat.ray(text)  # Ray takes the same config (prepare_config, then its schema)
    v = compat.validate(text)
    assert v.ok, f"{path}: {v.stderr}"
    own = ACTED_BY_PROVIDER[kind]
    # The path itself or the nearest section above it decides: a key of a
    # section that has no effect here is covered by the section's warning.
    parts = path.split(".")
    for n in range(len(parts), 0, -1):
        at = ".".join(parts[:n])
        full = at.replace("available_node_types.*", f"available_node_types.{WORKER}", 1)
        warned = [w for w in v.spec["warnings"] if w["key"] == full]
        if warned:
            assert at not in ACTED and at not in own, f"{at} is acted on but warned: {warned}"
            assert "has no effect here" in warned[0]["message"]
            assert warned[0]["line"] > 0
            return
        if at in own:
            if own[at] is not None and at == path:
                assert own[at](value, v.spec), f"{path}: {value!r} not in the spec"
            return
        if at in ACTED:
            if at == path:
                assert ACTED[at](value, v.spec), f"{path}: {value!r} not in the spec"
                return
            break
    pytest.fail(f"{path}: accepted silently, neither acted on nor warned")
