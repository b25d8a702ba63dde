// SSH keys of cloud nodes: the public half of the user's private key (for
// EC2's ImportKeyPair, GCP's ssh-keys metadata), and a new key pair when the
// config names none.
#pragma once

#include <string>

namespace raycluster::detail {

// "ssh-rsa AAAA..." / "ssh-ed25519 AAAA..." for a private key in OpenSSH
// format ("BEGIN OPENSSH PRIVATE KEY", whose public half is stored in the
// clear, so encrypted keys work too) or PEM (PKCS#1 RSA or PKCS#8, read with
// OpenSSL; must not be encrypted). `name` names the key in messages.
// Throws Error(invalid_argument) for unreadable or unsupported keys (EC2
// imports RSA and Ed25519 only). Key material never appears in messages.
std::string ssh_public_key(const std::string& private_key_text, const std::string& name);

// Writes a new RSA 3072 private key (PEM, PKCS#8) to `path`, mode 0600, via a
// temporary file renamed into place. Throws Error(io) when it cannot.
void generate_ssh_key(const std::string& path);

}  // namespace raycluster::detail
