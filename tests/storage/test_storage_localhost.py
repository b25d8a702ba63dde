"""The storage life-cycle on the localhost provider: a volume is a folder in
the cluster's state folder, linked at its mount path; `down` keeps it, the
next `up` finds it again, `down --delete-storage` deletes it (only when
confirmed)."""
import json
import pathlib

import pytest


def config(rc, mnt, with_storage=True):
    storage = f"""
        storage:
          data: {{mount_path: {mnt}}}
          scratch: {{mount_path: "~/scratch"}}
    """ if with_storage else ""
    return rc.config(f"""
        cluster_name: vols
        provider: {{type: localhost}}
        head_node_type: head
        available_node_types:
          head: {{resources: {{CPU: 1}}, min_workers: 0, max_workers: 0}}
        setup_commands:
          - ls -A {mnt} > $RAYCLUSTER_NODE_DIR/seen 2>&1 || true
        head_start_ray_commands: ["true"]
        worker_start_ray_commands: ["true"]
    """ + storage)


def head_of(rc, cfg):
    nodes = rc.status(cfg)["nodes"]
    heads = [n for n in nodes if n["kind"] == "head"]
    assert len(heads) == 1
    return heads[0]


def test_validate_json_lists_volumes(rc, tmp_path):
    cfg = config(rc, tmp_path / "mnt")
    spec = json.loads(rc.run("validate", cfg, "--json").stdout)
    assert [v["name"] for v in spec["storage"]] == ["data", "scratch"]
    assert spec["storage"][0]["node_types"] == ["head"]


def test_localhost_volume_outlives_down_and_is_deleted_only_when_confirmed(rc, tmp_path):
    mnt = tmp_path / "mnt" / "data"
    cfg = config(rc, mnt)
    rc.run("up", cfg, "-y")
    vol = rc.cluster_dir("vols") / "volumes" / "data"
    assert mnt.is_symlink() and mnt.resolve() == vol.resolve()
    head = head_of(rc, cfg)
    node_dir = rc.cluster_dir("vols") / "nodes" / head["id"]
    assert (node_dir / "scratch").resolve() == (rc.cluster_dir("vols") / "volumes" / "scratch").resolve()
    (mnt / "kept.txt").write_text("hello")

    rc.run("down", cfg, "-y")
    assert not mnt.exists() and not mnt.is_symlink()  # unlinked at down
    assert (vol / "kept.txt").read_text() == "hello"   # the data is kept

    rc.run("up", cfg, "-y")
    assert (mnt / "kept.txt").read_text() == "hello"
    head = head_of(rc, cfg)
    seen = rc.cluster_dir("vols") / "nodes" / head["id"] / "seen"
    assert seen.read_text().split() == ["kept.txt"]  # mounted before setup ran

    # Not a terminal and no --yes: refused, nothing deleted, nothing ended.
    p = rc.run("down", cfg, "--delete-storage", check=False)
    assert p.returncode == 1
    assert "DELETE its volumes (data, scratch)" in p.stderr
    assert "refusing to go on without confirmation" in p.stderr
    assert (vol / "kept.txt").exists()
    assert head_of(rc, cfg)["id"] == head["id"]

    p = rc.run("down", cfg, "--delete-storage", "--workers-only", "-y", check=False)
    assert p.returncode == 2
    assert "--delete-storage needs a full down" in p.stderr
    assert (vol / "kept.txt").exists()

    rc.run("down", cfg, "-y", "--delete-storage")
    assert not (rc.cluster_dir("vols") / "volumes" / "data").exists()
    assert not (rc.cluster_dir("vols") / "volumes" / "scratch").exists()
    assert rc.status(cfg)["nodes"] == []


def test_volume_added_later_is_mounted_without_replacing_the_head(rc, tmp_path):
    mnt = tmp_path / "late"
    cfg = config(rc, mnt, with_storage=False)
    rc.run("up", cfg, "-y")
    before = head_of(rc, cfg)["id"]
    config(rc, mnt, with_storage=True)
    rc.run("up", cfg, "-y")
    assert head_of(rc, cfg)["id"] == before
    assert mnt.is_symlink() and mnt.is_dir()


@pytest.mark.once
def test_python_binding_down_keeps_or_deletes_storage(rc, tmp_path, monkeypatch):
    """Cluster.down() keeps the volumes; down(delete_storage=True) deletes
    them (rc_down_options version 2), with no question asked."""
    import os
    import sys
    root = pathlib.Path(__file__).resolve().parents[2]
    sys.path.insert(0, str(root / "bindings" / "python"))
    if os.environ.get("RAYCLUSTER_LIB"):
        monkeypatch.setenv("RAYCLUSTER_LIBRARY", os.environ["RAYCLUSTER_LIB"])
    monkeypatch.setenv("RAYCLUSTER_HOME", str(rc.home))
    monkeypatch.setenv("PATH", rc.env["PATH"])
    import raycluster
    mnt = tmp_path / "py"
    cfg = config(rc, mnt)
    vol = rc.cluster_dir("vols") / "volumes" / "data"
    with raycluster.Cluster(str(cfg)) as c:
        c.up()
        assert mnt.is_symlink()
        c.down()
        assert vol.is_dir()
        c.up()
        c.down(delete_storage=True)
        assert not vol.exists()
