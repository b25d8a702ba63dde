// The public half of an SSH private key, for EC2's ImportKeyPair.
#pragma once

#include <string>

namespace raycluster::detail::ec2 {

// "ssh-rsa AAAA..." / "ssh-ed25519 AAAA..." for a private key in OpenSSH
// format ("BEGIN OPENSSH PRIVATE KEY", whose public half is stored in the
// clear, so encrypted keys work too) or PEM (PKCS#1 RSA or PKCS#8, read with
// OpenSSL; must not be encrypted). `name` names the key in messages.
// Throws Error(invalid_argument) for unreadable or unsupported keys (EC2
// imports RSA and Ed25519 only). Key material never appears in messages.
std::string ssh_public_key(const std::string& private_key_text, const std::string& name);

}  // namespace raycluster::detail::ec2
