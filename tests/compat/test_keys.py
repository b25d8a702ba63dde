"""Keys Ray accepts that raycluster used to refuse: each is accepted now, and
the normalised result matches what Ray's prepare_config makes of the same
YAML (or, for keys with no effect here, a warning names the key)."""
import pytest

from conftest import COMMANDS, assert_same_as_ray

AWS = """
cluster_name: compat
provider:
  type: aws
  region: us-east-1
auth: {ssh_user: ubuntu}
max_workers: 4
available_node_types:
  ray.head.default:
    resources: {CPU: 2}
    node_config: {InstanceType: m5.large}
  ray.worker.default:
    min_workers: 1
    max_workers: 3
    resources: {CPU: 2}
    node_config: {InstanceType: m5.large}
head_node_type: ray.head.default
""" + COMMANDS


def test_the_base_config_matches_ray(compat):
    assert_same_as_ray(compat.validate(AWS), compat.ray(AWS))


@pytest.mark.parametrize("key, value", [
    ("cloudwatch", "{agent: {config: cloudwatch-agent-config.json}}"),
    ("aws_credentials", "{aws_access_key_id: AKIDEXAMPLE, aws_secret_access_key: notshown}"),
])
def test_provider_keys_of_ray_are_accepted_with_a_warning(compat, key, value):
    text = AWS.replace("  region: us-east-1\n", f"  region: us-east-1\n  {key}: {value}\n")
    v = compat.validate(text)
    assert_same_as_ray(v, compat.ray(text))
    (w,) = v.warned(f"provider.{key}")
    assert "has no effect here" in w["message"] and w["line"] == 5
    # The secret of aws_credentials is in no output.
    assert "notshown" not in v.stderr and "notshown" not in str(v.spec)


def test_top_level_min_workers_is_dropped_as_ray_drops_it(compat):
    text = AWS + "min_workers: 3\n"
    v = compat.validate(text)
    ray = compat.ray(text)
    assert "min_workers" not in ray
    assert_same_as_ray(v, ray)
    assert v.warned("min_workers")


def test_metadata_is_accepted_with_a_warning(compat):
    text = AWS + "metadata: {owner: team-a}\n"
    v = compat.validate(text)
    assert_same_as_ray(v, compat.ray(text))
    assert v.warned("metadata")


def test_per_type_idle_timeout_s_is_the_types_idle_timeout(compat):
    text = AWS.replace("    min_workers: 1\n", "    min_workers: 1\n    idle_timeout_s: 90\n")
    v = compat.validate(text)
    ray = compat.ray(text)
    assert_same_as_ray(v, ray)
    rt = ray["available_node_types"]["ray.worker.default"]
    assert v.type("ray.worker.default")["idle_timeout_minutes"] * 60 == rt["idle_timeout_s"]


def test_per_type_initialization_commands_replace_the_clusters_for_that_type(compat):
    text = AWS.replace("    min_workers: 1\n",
                       "    min_workers: 1\n    initialization_commands: [echo type-init]\n")
    v = compat.validate(text)
    assert_same_as_ray(v, compat.ray(text))
    assert v.type("ray.worker.default")["commands"]["initialization_commands"] == ["echo type-init"]
    assert v.type("ray.head.default")["commands"]["initialization_commands"] == ["echo init"]


def test_docker_use_podman_is_accepted(compat):
    text = AWS + "docker: {image: rayproject/ray:2.60.0, container_name: ray, use_podman: true}\n"
    v = compat.validate(text)
    assert_same_as_ray(v, compat.ray(text))
    assert v.spec["docker"]["use_podman"] is True


def test_whole_numbers_written_with_a_point(compat):
    text = (AWS.replace("max_workers: 4", "max_workers: 4.0")
               .replace("    max_workers: 3\n", "    max_workers: 3.0\n"))
    v = compat.validate(text)
    assert_same_as_ray(v, compat.ray(text))
    assert v.spec["max_workers"] == 4 and v.type("ray.worker.default")["max_workers"] == 3


def test_a_fraction_is_still_refused_where_a_count_is_expected(compat):
    v = compat.validate(AWS.replace("max_workers: 4", "max_workers: 4.5"))
    assert v.returncode == 2 and "max_workers" in v.stderr + str(v.spec)


# The anchors sit under `metadata` (a key both sides accept), so both read
# the same file.
MERGE = """
cluster_name: compat
provider: {type: aws, region: us-east-1}
auth: {ssh_user: ubuntu}
max_workers: 6
metadata:
  base: &base
    resources: {CPU: 2}
    node_config: &cfg {InstanceType: m5.large, ImageId: ami-0123456789abcdef0}
  spot: &spot
    node_config: {InstanceType: m5.large, InstanceMarketOptions: {MarketType: spot}}
  small: &small {min_workers: 1, max_workers: 2}
available_node_types:
  ray.head.default:
    <<: *base
  cpu:
    <<: [*small, *base]
    max_workers: 3
  spot:
    <<: [*spot, *base]
  gpu:
    <<: *base
    node_config:
      <<: *cfg
      InstanceType: g5.xlarge
head_node_type: ray.head.default
""" + COMMANDS


def test_yaml_merge_keys_as_pyyaml_reads_them_for_ray(compat):
    v = compat.validate(MERGE)
    ray = compat.ray(MERGE)
    # Intentional difference, type `spot` only: when several mappings of a
    # merge list give one key, the YAML merge spec (and raycluster) keeps the
    # first. PyYAML 6 (Ray's reader) drops repeats by the identity of the key's
    # string object, so for most keys the last mapping wins there (for
    # one-letter keys, which Python shares, the first): an accident of its
    # implementation, not a rule to copy.
    assert_same_as_ray(v, ray, skip_types=("spot",))
    assert ray["available_node_types"]["spot"]["node_config"]["ImageId"]
    cpu = v.type("cpu")
    assert (cpu["min_workers"], cpu["max_workers"]) == (1, 3)  # the type's own key wins
    spot = v.type("spot")["node_config"]
    assert spot == {"InstanceType": "m5.large", "InstanceMarketOptions": {"MarketType": "spot"}}
    gpu = v.type("gpu")["node_config"]
    assert gpu == {"InstanceType": "g5.xlarge", "ImageId": "ami-0123456789abcdef0"}


def test_a_merge_key_that_is_not_a_mapping_is_an_error_at_its_line(compat):
    text = AWS.replace("    min_workers: 1\n", "    <<: 7\n    min_workers: 1\n")
    v = compat.validate(text)
    assert v.returncode == 2
    assert "merge key" in v.stderr + str(v.spec)
    assert "unknown key" not in v.stderr + str(v.spec)


GCP_TPU = """
cluster_name: compat
provider: {type: gcp, region: us-central2, availability_zone: us-central2-b, project_id: p-1}
auth: {ssh_user: ubuntu}
max_workers: 2
available_node_types:
  ray_head_default:
    resources: {CPU: 2}
    node_config:
      machineType: n1-standard-4
  ray_tpu:
    min_workers: 0
    max_workers: 1
    resources: {TPU: 4}
    node_config:
      acceleratorType: v4-8
      runtimeVersion: tpu-ubuntu2204-base
head_node_type: ray_head_default
""" + COMMANDS


def test_gcp_tpu_node_types_validate_and_up_says_tpus_are_not_supported(compat):
    v = compat.validate(GCP_TPU)
    assert_same_as_ray(v, compat.ray(GCP_TPU))
    path = compat.write(GCP_TPU, "tpu.yaml")
    import subprocess
    up = subprocess.run([compat.bin, "up", str(path), "-y"], env=compat.env,
                        capture_output=True, text=True, timeout=60)
    assert up.returncode != 0
    assert "TPU nodes are not supported yet" in up.stderr
    assert "machineType" not in up.stderr


def test_unknown_keys_are_still_errors_with_a_did_you_mean(compat):
    v = compat.validate(AWS.replace("  region: us-east-1\n", "  region: us-east-1\n  cloudwach: {}\n"))
    assert v.returncode == 2
    assert "did you mean 'cloudwatch'" in v.stderr + str(v.spec)
