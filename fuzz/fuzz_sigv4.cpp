// SigV4 canonicalisation of arbitrary URLs, headers and bodies: lines split
// at NULs (method, URL, then header name/value pairs, the rest is the body).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "auth/sigv4.hpp"
#include "util/error.hpp"

namespace sigv4 = raycluster::sigv4;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> parts;
  while (parts.size() < 8) {
    std::size_t nul = in.find('\0');
    parts.push_back(in.substr(0, nul));
    if (nul == std::string_view::npos) {
      in = {};
      break;
    }
    in.remove_prefix(nul + 1);
  }
  if (parts.size() < 2) return 0;
  try {
    sigv4::Request r = sigv4::request_from_url(std::string(parts[0]), parts[1]);
    for (std::size_t i = 2; i + 1 < parts.size(); i += 2)
      r.headers.emplace_back(std::string(parts[i]), std::string(parts[i + 1]));
    r.body = std::string(in);
    raycluster::AwsCredentials creds{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                                     parts.size() % 2 ? "token" : "", "fuzz"};
    sigv4::SigningOptions opts;
    opts.service = "ec2";
    opts.region = "us-east-1";
    opts.normalize_path = (size % 3) != 0;
    (void)sigv4::sign(r, creds, opts, sigv4::Clock::time_point(std::chrono::seconds(1440938160)));
    opts.presign_expires = std::chrono::seconds(300);
    (void)sigv4::sign(r, creds, opts, sigv4::Clock::time_point(std::chrono::seconds(1440938160)));
  } catch (const raycluster::Error&) {
  }
  return 0;
}
