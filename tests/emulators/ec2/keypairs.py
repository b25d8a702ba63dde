"""Key pair actions: CreateKeyPair, ImportKeyPair, DescribeKeyPairs, DeleteKeyPair.

CreateKeyPair makes a real key with ``cryptography``: RSA 2048 answered as a
PEM ``RSA PRIVATE KEY`` (what EC2 returns), or ed25519 in OpenSSH form.
ImportKeyPair accepts OpenSSH RSA and ed25519 public keys only (anything else
is ``InvalidKey.Format``). Fingerprints follow EC2: for created RSA keys the
SHA-1 of the PKCS#8 DER private key, for imported RSA keys the MD5 of the DER
public key, for ed25519 keys the base64 SHA-256 of the OpenSSH public key.
Names are unique (``InvalidKeyPair.Duplicate``) and at most 255 ASCII
characters; an unknown name is ``InvalidKeyPair.NotFound``.
"""
import base64
import hashlib

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from . import filters
from .common import action, check_ids, dry_run, tag_list, tag_specifications
from .errors import Ec2Error
from .state import KeyPair, new_id, utcnow


def _colon_hex(digest):
    return ":".join(f"{b:02x}" for b in digest)


def _openssh_public(public_key):
    return public_key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def _ed25519_fingerprint(public_key):
    blob = base64.b64decode(_openssh_public(public_key).split()[1])
    return base64.b64encode(hashlib.sha256(blob).digest()).decode()


def _check_name(world, name):
    if not name or len(name) > 255 or not name.isascii():
        raise Ec2Error("InvalidParameterValue", f"Value ({name}) for parameter keyName is invalid. "
                       "Key names are 1 to 255 ASCII characters.")
    if name in world.key_pairs:
        raise Ec2Error("InvalidKeyPair.Duplicate", f"The keypair '{name}' already exists.")


def _key_view(key, include_public=False):
    return {"KeyPairId": key.id, "KeyFingerprint": key.fingerprint, "KeyName": key.name, "KeyType": key.key_type,
            "Tags": tag_list(key.tags) if key.tags else None, "CreateTime": key.created,
            "PublicKey": key.public_key if include_public else None}


@action("CreateKeyPair")
def create_key_pair(api, p):
    world = api.world
    name = p["KeyName"]
    _check_name(world, name)
    key_type = p.get("KeyType", "rsa")
    if p.get("KeyFormat", "pem") != "pem":
        raise Ec2Error("InvalidParameterValue", "Only the pem key format is emulated")
    tags = tag_specifications(p.get("TagSpecifications"), ("key-pair",)).get("key-pair", {})
    dry_run(p)
    if key_type == "ed25519":
        private = ed25519.Ed25519PrivateKey.generate()
        material = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                         serialization.NoEncryption()).decode()
        fingerprint = _ed25519_fingerprint(private.public_key())
    else:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        material = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                         serialization.NoEncryption()).decode()
        pkcs8 = private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())
        fingerprint = _colon_hex(hashlib.sha1(pkcs8).digest())
    key = KeyPair(new_id("key"), name, fingerprint, key_type,
                  _openssh_public(private.public_key()) + f" {name}", utcnow(), tags)
    world.key_pairs[name] = key
    return {"KeyFingerprint": fingerprint, "KeyMaterial": material.rstrip("\n"), "KeyName": name,
            "KeyPairId": key.id, "Tags": tag_list(tags) if tags else None}


@action("ImportKeyPair")
def import_key_pair(api, p):
    world = api.world
    name = p["KeyName"]
    _check_name(world, name)
    material = p["PublicKeyMaterial"]
    try:
        public = serialization.load_ssh_public_key(material.strip())
    except (ValueError, TypeError, IndexError):
        raise Ec2Error("InvalidKey.Format", "Key is not in valid OpenSSH public key format") from None
    if isinstance(public, rsa.RSAPublicKey):
        key_type = "rsa"
        der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        fingerprint = _colon_hex(hashlib.md5(der).digest())
    elif isinstance(public, ed25519.Ed25519PublicKey):
        key_type = "ed25519"
        fingerprint = _ed25519_fingerprint(public)
    else:
        raise Ec2Error("InvalidKey.Format", "Key is not in valid OpenSSH public key format")
    tags = tag_specifications(p.get("TagSpecifications"), ("key-pair",)).get("key-pair", {})
    dry_run(p)
    key = KeyPair(new_id("key"), name, fingerprint, key_type, material.decode().strip(), utcnow(), tags)
    world.key_pairs[name] = key
    return {"KeyFingerprint": fingerprint, "KeyName": name, "KeyPairId": key.id,
            "Tags": tag_list(tags) if tags else None}


@action("DescribeKeyPairs")
def describe_key_pairs(api, p):
    world = api.world
    names = p.get("KeyNames") or []
    ids = p.get("KeyPairIds") or []
    missing = [n for n in names if n not in world.key_pairs]
    if missing:
        raise Ec2Error("InvalidKeyPair.NotFound", f"The key pair '{missing[0]}' does not exist")
    by_id = {k.id: k for k in world.key_pairs.values()}
    check_ids(ids, "key", by_id, "InvalidKeyPair", "key pair")
    keys = list(world.key_pairs.values())
    if names:
        keys = [k for k in keys if k.name in names]
    if ids:
        keys = [k for k in keys if k.id in ids]
    fields = {"key-name": lambda k: [k.name], "key-pair-id": lambda k: [k.id],
              "fingerprint": lambda k: [k.fingerprint], "key-type": lambda k: [k.key_type]}
    keys = filters.apply(p.get("Filters"), keys, fields)
    return {"KeyPairs": [_key_view(k, p.get("IncludePublicKey", False)) for k in keys]}


@action("DeleteKeyPair")
def delete_key_pair(api, p):
    world = api.world
    name, key_id = p.get("KeyName"), p.get("KeyPairId")
    if not name and not key_id:
        raise Ec2Error("MissingParameter", "The request must contain the parameter KeyName or KeyPairId")
    key = None
    if key_id:
        by_id = {k.id: k for k in world.key_pairs.values()}
        check_ids([key_id], "key", by_id, "InvalidKeyPair", "key pair")
        key = by_id[key_id]
    elif name in world.key_pairs:
        key = world.key_pairs[name]
    dry_run(p)
    # Like EC2, deleting a name that does not exist succeeds.
    if key is not None:
        del world.key_pairs[key.name]
    return {"Return": True, "KeyPairId": key.id if key else None}
