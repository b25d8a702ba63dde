"""Writes the reference data of tests/unit/auth/gcp_jwt_test.cpp (run once; the output is committed).

    .venv/bin/python tests/unit/auth/data/make_gcp_jwt_reference.py tests/unit/auth/data

The assertions are made by PyJWT (pinned in requirements-dev.txt), not by our
code: jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid}).
PyJWT serializes the header with sorted keys and no spaces:
    {"alg":"RS256","kid":"<kid>","typ":"JWT"}
and the claims in insertion order with no spaces (json.dumps with
separators=(",", ":"), ASCII-only escapes):
    {"iss":"<email>","scope":"<scope>","aud":"<aud>","iat":<iat>,"exp":<iat+3600>}
RS256 (RSASSA-PKCS1-v1_5 with SHA-256) is deterministic, so the same key and
claims give the same bytes every time; the script checks that PyJWT and
google-auth both verify each token.

Files: gcp_test_rsa_key.pem (PKCS#8), gcp_test_rsa_key_pkcs1.pem (the same key
as PKCS#1), gcp_test_rsa_key_encrypted.pem (the same key encrypted with the
passphrase "test"), gcp_test_ec_key.pem (a P-256 key); the last two must be
refused,
gcp_jwt_reference.txt: one case per line, tab-separated:
    kid  iss  scope  aud  iat  token
"""
import json
import os
import sys

import google.auth.jwt
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
CASES = [
    ("3f1a0c9e8b7d6a5f4e3d2c1b0a99887766554433", "raycluster-test@my-project.iam.gserviceaccount.com",
     SCOPE, "https://oauth2.googleapis.com/token", 1767225600),
    ("k1", "sa@p.iam.gserviceaccount.com", SCOPE, "http://127.0.0.1:8089/token", 1796300000),
    # Escapes: a quote, a backslash, a control character and non-ASCII text.
    ("kid\"\\", "caf\u00e9-\U0001F600@x.iam.gserviceaccount.com", "a b\tc",
     "https://oauth2.googleapis.com/token", 1700000001),
]


def main(out):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    pkcs1 = key.private_bytes(serialization.Encoding.PEM,
                              serialization.PrivateFormat.TraditionalOpenSSL,
                              serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    ec_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    lines = []
    for kid, iss, scope, aud, iat in CASES:
        claims = {"iss": iss, "scope": scope, "aud": aud, "iat": iat, "exp": iat + 3600}
        token = jwt.encode(claims, pem, algorithm="RS256", headers={"kid": kid})
        assert jwt.decode(token, public, algorithms=["RS256"], audience=aud,
                          options={"verify_exp": False, "verify_iat": False}) == claims
        assert google.auth.jwt.decode(token, certs={kid: public}, audience=aud,
                                      clock_skew_in_seconds=10 ** 10) == claims
        fields = [kid, iss, scope, aud, str(iat), token]
        lines.append("\t".join(json.dumps(f) if i < 4 else f for i, f in enumerate(fields)))
    encrypted = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.BestAvailableEncryption(b"test"))
    for name, data in [("gcp_test_rsa_key.pem", pem), ("gcp_test_rsa_key_pkcs1.pem", pkcs1),
                       ("gcp_test_rsa_key_encrypted.pem", encrypted),
                       ("gcp_test_ec_key.pem", ec_pem)]:
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    with open(os.path.join(out, "gcp_jwt_reference.txt"), "w", encoding="ascii") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
