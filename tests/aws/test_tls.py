"""TLS to EC2: verified always; a private CA trusted the way the AWS CLI does it.

The EC2 emulator is put behind a TLS front on loopback whose certificate a
test CA made here signed. `raycluster status` reaches it only when
AWS_CA_BUNDLE (or the profile's ca_bundle) names that CA; without it the
handshake fails and not one byte of a request reaches the emulator.
"""
import datetime
import ipaddress
import socket
import ssl
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def make_ca_and_server_cert(folder):
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "raycluster test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, key_cert_sign=True, crl_sign=True,
                                       encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    ca_pem = folder / "ca.pem"
    ca_pem.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_pem = folder / "server.pem"
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem = folder / "server.key"
    key_pem.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return ca_pem, cert_pem, key_pem


class TlsFront:
    """Accepts TLS on 127.0.0.1 and relays each connection to the emulator."""

    def __init__(self, cert, key, target_port):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.target_port = target_port
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.handshakes_ok = 0
        self.handshakes_failed = 0
        self.bytes_relayed = 0
        self.lock = threading.Lock()
        self.stopped = False
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while not self.stopped:
            try:
                raw, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.handle, args=(raw,), daemon=True).start()

    def handle(self, raw):
        raw.settimeout(20)
        try:
            tls = self.ctx.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            with self.lock:
                self.handshakes_failed += 1
            raw.close()
            return
        with self.lock:
            self.handshakes_ok += 1
        upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=20)

        def pump(src, dst):
            try:
                while True:
                    data = src.recv(65536)
                    if not data:
                        break
                    with self.lock:
                        self.bytes_relayed += len(data)
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                for s in (src, dst):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        back = threading.Thread(target=pump, args=(upstream, tls), daemon=True)
        back.start()
        pump(tls, upstream)
        back.join(timeout=20)
        tls.close()
        upstream.close()

    def close(self):
        self.stopped = True
        self.sock.close()


@pytest.fixture
def tls(aws, tmp_path):
    ca, cert, key = make_ca_and_server_cert(tmp_path)
    front = TlsFront(cert, key, aws.ec2.port)
    cfg = aws.config("tls", workers=0)
    cfg.write_text(cfg.read_text().replace(aws.ec2.url, f"https://127.0.0.1:{front.port}"))
    yield front, ca, cfg
    front.close()


def test_a_private_ca_named_by_aws_ca_bundle_is_trusted(aws, tls):
    front, ca, cfg = tls
    aws.env["AWS_CA_BUNDLE"] = str(ca)
    status = aws.status(cfg)
    assert status["nodes"] == []
    assert front.handshakes_ok >= 1 and front.bytes_relayed > 0


def test_the_profile_ca_bundle_is_trusted_too(aws, tls, tmp_path):
    front, ca, cfg = tls
    config = tmp_path / "aws-config"
    config.write_text(f"[default]\nca_bundle = {ca}\n")
    aws.env["AWS_CONFIG_FILE"] = str(config)
    assert aws.status(cfg)["nodes"] == []
    assert front.handshakes_ok >= 1


def test_an_unknown_ca_is_refused_before_any_request_is_sent(aws, tls):
    front, _, cfg = tls
    calls_before = len(aws.ec2.calls())
    out = aws.run("status", cfg, check=False, timeout=120)
    assert out.returncode != 0
    assert "certificate" in out.stderr.lower(), out.stderr
    assert front.handshakes_ok == 0 and front.handshakes_failed >= 1
    assert front.bytes_relayed == 0
    assert len(aws.ec2.calls()) == calls_before


def test_a_ca_bundle_that_is_not_a_file_is_named(aws, tls, tmp_path):
    _, _, cfg = tls
    missing = tmp_path / "no-such-ca.pem"
    aws.env["AWS_CA_BUNDLE"] = str(missing)
    out = aws.run("status", cfg, check=False)
    assert out.returncode != 0
    assert f"the CA bundle {missing} (AWS_CA_BUNDLE" in out.stderr, out.stderr
