"""How Ray combines what a config says: legacy configs, per-type commands,
each provider's defaults, a missing head_node_type. Ray's prepare_config on
the same YAML is the reference; where raycluster differs on purpose, the
test says where and why (README, Configs)."""
import shlex

from conftest import COMMANDS, assert_same_as_ray

LEGACY = """
cluster_name: legacy
provider: {type: aws, region: us-west-2}
auth: {ssh_user: ubuntu}
min_workers: 1
max_workers: 3
head_node:
  InstanceType: m5.xlarge
  resources: {CPU: 4}
worker_nodes:
  InstanceType: m5.large
  ImageId: ami-0aaaabbbbccccdddd
""" + COMMANDS


def test_legacy_configs_get_rays_type_names_bounds_and_resources(compat):
    v = compat.validate(LEGACY)
    # Intentional difference: Ray 2.60 converts the legacy keys
    # (fillout_defaults), then its schema refuses the non-empty head_node and
    # worker_nodes it leaves in place, so `ray up` stops there; raycluster
    # runs the converted config.
    import jsonschema
    try:
        compat.ray(LEGACY)
        raise AssertionError("Ray's schema took a legacy config")
    except jsonschema.ValidationError as e:
        assert "head_node" in str(e.message)
    ray = compat.ray(LEGACY, schema=False)
    assert_same_as_ray(v, ray)
    assert v.spec["head_node_type"] == "ray-legacy-head-node-type"
    assert {t["name"] for t in v.spec["node_types"]} == {
        "ray-legacy-head-node-type", "ray-legacy-worker-node-type"}


PER_TYPE = """
cluster_name: pertype
provider: {type: aws, region: us-east-1}
auth: {ssh_user: ubuntu}
max_workers: 4
available_node_types:
  ray.head.default:
    resources: {CPU: 2}
    node_config: {InstanceType: m5.large}
    worker_setup_commands: [echo never-on-the-head]
  plain:
    resources: {CPU: 2}
    node_config: {InstanceType: m5.large}
  own:
    resources: {CPU: 2}
    node_config: {InstanceType: m5.large}
    worker_setup_commands: [echo own-setup]
  own-empty:
    resources: {CPU: 2}
    node_config: {InstanceType: m5.large}
    worker_setup_commands: []
head_node_type: ray.head.default
""" + COMMANDS


def test_per_type_worker_setup_commands_replace_the_clusters_as_in_ray(compat):
    v = compat.validate(PER_TYPE)
    assert_same_as_ray(v, compat.ray(PER_TYPE))
    # Spelled out: Ray prepends setup_commands to the cluster's lists only.
    assert v.type("plain")["commands"]["setup_commands"] == ["echo setup", "echo worker-setup"]
    assert v.type("own")["commands"]["setup_commands"] == ["echo own-setup"]
    assert v.type("own-empty")["commands"]["setup_commands"] == []
    assert v.type("ray.head.default")["commands"]["setup_commands"] == [
        "echo setup", "echo head-setup"]


def test_a_missing_head_node_type_is_rays_default_when_the_types_use_its_names(compat):
    text = PER_TYPE.replace("head_node_type: ray.head.default\n", "")
    v = compat.validate(text)
    assert_same_as_ray(v, compat.ray(text))
    assert v.spec["head_node_type"] == "ray.head.default"


def test_a_missing_head_node_type_with_other_names_is_still_an_error(compat):
    text = (PER_TYPE.replace("head_node_type: ray.head.default\n", "")
            .replace("ray.head.default:", "my-head:"))
    v = compat.validate(text)
    assert v.returncode == 2
    assert [e for e in v.spec["errors"] if e["key"] == "head_node_type"]


GCP_DEFAULTS = """
cluster_name: gcpdefaults
provider: {type: gcp, region: us-west1, availability_zone: us-west1-a, project_id: p-1}
""" + COMMANDS


def test_gcp_defaults_as_ray_merges_them(compat):
    v = compat.validate(GCP_DEFAULTS)
    ray = compat.ray(GCP_DEFAULTS)
    # Intentional difference: Ray's default GCP worker is preemptible
    # (scheduling: preemptible) and ours is not: a default should not lose
    # workers mid-task; node_config is compared for the head only.
    assert_same_as_ray(v, ray, skip_types=("ray_worker_small",))
    w = v.type("ray_worker_small")
    rw = ray["available_node_types"]["ray_worker_small"]
    assert (w["min_workers"], w["max_workers"], w["resources"]) == (
        rw["min_workers"], rw["max_workers"], rw["resources"])
    assert v.spec["upscaling_speed"] == ray["upscaling_speed"] == 1.0
    assert v.spec["provider"]["cache_stopped_nodes"] is False


def _words(commands):
    """A command list as words, without what raycluster leaves out on
    purpose: Ray's --autoscaling-config (the head's autoscaler is set up by
    `up` itself) and the dashboard host (loopback here: the dashboard is
    reached through `raycluster dashboard`'s SSH tunnel, never an open port)."""
    out = []
    for c in commands:
        words = [w for w in shlex.split(c.replace(";", " ; "))
                 if not w.startswith("--autoscaling-config") and
                 not w.startswith("--dashboard-host")]
        out.append(words)
    return out


def test_default_start_commands_are_rays_but_for_the_documented_flags(compat):
    for text in ("cluster_name: d\nprovider: {type: aws, region: us-west-2}\n",
                 "cluster_name: d\nprovider: {type: gcp, region: us-west1, "
                 "availability_zone: us-west1-a, project_id: p-1}\n",
                 "cluster_name: d\nprovider: {type: local, head_ip: 10.0.0.1, "
                 "worker_ips: [10.0.0.2]}\nauth: {ssh_user: me}\n"):
        v = compat.validate(text)
        ray = compat.ray(text)
        assert v.ok, v.stderr
        for key in ("head_start_ray_commands", "worker_start_ray_commands"):
            assert _words(v.spec[key]) == _words(ray[key]), (text, key)
        assert all("--dashboard-host=127.0.0.1" in c or "--head" not in c
                   for c in v.spec["head_start_ray_commands"])


def test_default_setup_commands_differ_from_rays_where_readme_says(compat):
    text = "cluster_name: d\nprovider: {type: aws, region: us-west-2}\n"
    v = compat.validate(text)
    ray = compat.ray(text)
    # Ray's AWS defaults install a nightly wheel of Ray 3.0.0.dev0 and boto3
    # on the head (for its Python autoscaler); raycluster installs the
    # released Ray when the image lacks it and needs nothing on the head.
    assert any("ray-3.0.0.dev0" in c for c in ray["setup_commands"])
    assert v.spec["setup_commands"] == ['which ray || python3 -m pip install -U "ray[default]"']
    assert ray["head_setup_commands"][-1].startswith("pip install 'boto3")
    assert v.spec["head_setup_commands"] == []


def test_onprem_as_rays_prepare_local(compat):
    text = ("cluster_name: d\nprovider: {type: local, head_ip: 10.0.0.1, "
            "worker_ips: [10.0.0.2, 10.0.0.3]}\nauth: {ssh_user: me}\n" + COMMANDS)
    v = compat.validate(text)
    ray = compat.ray(text)
    assert_same_as_ray(v, ray)
