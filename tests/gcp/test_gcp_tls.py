"""TLS to Compute: verified always; a private CA trusted the way gcloud takes it.

The Compute emulator is put behind a TLS front on loopback whose certificate
a test CA made here signed. `raycluster status` reaches it only when
CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE (gcloud's core/custom_ca_certs_file
property) names that CA; without it the handshake fails and no request
reaches the emulator.
"""
import pytest

from test_tls import TlsFront, make_ca_and_server_cert  # tests/aws, on the path from conftest


@pytest.fixture
def tls(gcp, tmp_path):
    ca, cert, key = make_ca_and_server_cert(tmp_path)
    front = TlsFront(cert, key, gcp.gce.port)
    cfg = gcp.config("tls", workers=0,
                     endpoint_url=f"https://127.0.0.1:{front.port}/compute/v1/")
    yield front, ca, cfg
    front.close()


def test_a_private_ca_named_by_the_gcloud_variable_is_trusted(gcp, tls):
    front, ca, cfg = tls
    gcp.env["CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE"] = str(ca)
    assert gcp.status(cfg)["nodes"] == []
    assert front.handshakes_ok >= 1 and front.bytes_relayed > 0
    assert any("/instances" in c.get("path", "") for c in gcp.gce.calls()), gcp.gce.calls()


def test_an_unknown_ca_is_refused_before_any_request_is_sent(gcp, tls):
    front, _, cfg = tls
    out = gcp.run("status", cfg, check=False, timeout=120)
    assert out.returncode != 0
    assert "certificate" in out.stderr.lower(), out.stderr
    assert front.handshakes_ok == 0 and front.handshakes_failed >= 1
    assert front.bytes_relayed == 0
    assert gcp.gce.calls() == []


def test_a_ca_file_that_is_not_there_is_named(gcp, tls, tmp_path):
    _, _, cfg = tls
    missing = tmp_path / "no-such-ca.pem"
    gcp.env["CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE"] = str(missing)
    out = gcp.run("status", cfg, check=False)
    assert out.returncode != 0
    assert f"the CA bundle {missing} (CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE)" in out.stderr, out.stderr
