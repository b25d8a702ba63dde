"""The Compute emulator's persistent disks, driven by Google's own client
(googleapiclient from compute.v1.json): disks live in a zone, carry their
labels from insert, attach to one instance of their zone only, and an
attached disk cannot be deleted. Every request and answer is checked
against the discovery document by the emulator."""
import pathlib
import sys

import pytest
from googleapiclient.errors import HttpError

HERE = pathlib.Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[1] / "emulators"))
sys.path.insert(0, str(HERE.parents[1] / "support"))
from gcp import GceEmulator  # noqa: E402
from gcp.disks import disks_of  # noqa: E402
from gcp.token import TokenService  # noqa: E402
from test_gcp_emulator import PROJECT, REGION, TIMINGS, TOKEN, insert, make_client, wait_op  # noqa: E402

A, B = "us-central1-a", "us-central1-b"


@pytest.fixture
def gce():
    with GceEmulator(PROJECT, REGION, tokens=TokenService(), access_tokens=[TOKEN], **TIMINGS) as emu:
        yield emu, make_client(emu)


def test_disk_life_cycle_and_zone_rules(gce):
    emu, c = gce
    body = {"name": "rc-data", "sizeGb": "10", "type": f"zones/{A}/diskTypes/pd-balanced",
            "labels": {"raycluster-id": "abc", "raycluster-volume": "data"}}
    wait_op(c, c.disks().insert(project=PROJECT, zone=A, body=body).execute(), A)
    got = c.disks().get(project=PROJECT, zone=A, disk="rc-data").execute()
    assert got["labels"] == body["labels"] and got["sizeGb"] == "10"
    listed = c.disks().list(project=PROJECT, zone=A, filter="labels.raycluster-volume=data").execute()
    assert [d["name"] for d in listed["items"]] == ["rc-data"]
    assert "items" not in c.disks().list(project=PROJECT, zone=B).execute()

    wait_op(c, insert(c, "vm-a", zone=A), A)
    wait_op(c, insert(c, "vm-a2", zone=A), A)
    wait_op(c, insert(c, "vm-b", zone=B, machine_type=f"zones/{B}/machineTypes/n1-standard-2"), B)
    source = got["selfLink"]
    with pytest.raises(HttpError) as across:
        c.instances().attachDisk(project=PROJECT, zone=B, instance="vm-b",
                                 body={"source": source, "deviceName": "data"}).execute()
    assert across.value.resp.status == 400
    wait_op(c, c.instances().attachDisk(project=PROJECT, zone=A, instance="vm-a",
                                        body={"source": source, "deviceName": "data"}).execute(), A)
    with pytest.raises(HttpError) as taken:
        c.instances().attachDisk(project=PROJECT, zone=A, instance="vm-a2",
                                 body={"source": source, "deviceName": "data"}).execute()
    assert taken.value.resp.status == 400 and "already being used" in str(taken.value)
    with pytest.raises(HttpError) as busy:
        c.disks().delete(project=PROJECT, zone=A, disk="rc-data").execute()
    assert busy.value.resp.status == 400
    wait_op(c, c.instances().detachDisk(project=PROJECT, zone=A, instance="vm-a",
                                        deviceName="data").execute(), A)
    wait_op(c, c.disks().delete(project=PROJECT, zone=A, disk="rc-data").execute(), A)
    assert disks_of(emu.world) == []
