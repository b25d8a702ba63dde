// A CredentialsSource<AwsCredentials> for tests: hands out `current`, counts
// the calls, and on refresh() moves on to the next of `rotations` (or hands
// out the same credentials again when none are left, or throws `failure`).
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "auth/aws_credentials.hpp"
#include "auth/credentials.hpp"
#include "util/error.hpp"

namespace rctest {

inline raycluster::AwsCredentials aws_credentials(std::string id = "AKIDEXAMPLE",
                                                  std::string token = {}) {
  raycluster::AwsCredentials c;
  c.access_key_id = std::move(id);
  c.secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
  c.session_token = std::move(token);
  c.source = "test";
  return c;
}

struct FakeCredentialsSource : raycluster::CredentialsSource<raycluster::AwsCredentials> {
  explicit FakeCredentialsSource(raycluster::AwsCredentials first = aws_credentials())
      : current(std::move(first)) {}

  raycluster::AwsCredentials get(const raycluster::CancelToken&) override {
    std::lock_guard<std::mutex> lock(mu);
    ++gets;
    return current;
  }
  raycluster::AwsCredentials refresh(const raycluster::AwsCredentials& stale,
                                     const raycluster::CancelToken&) override {
    std::lock_guard<std::mutex> lock(mu);
    ++refreshes;
    stale_ids.push_back(stale.access_key_id);
    if (failure) throw *failure;
    if (!rotations.empty()) {
      current = rotations.front();
      rotations.erase(rotations.begin());
    }
    return current;
  }

  std::mutex mu;
  raycluster::AwsCredentials current;
  std::vector<raycluster::AwsCredentials> rotations;
  std::optional<raycluster::Error> failure;
  int gets = 0;
  int refreshes = 0;
  std::vector<std::string> stale_ids;
};

inline std::shared_ptr<FakeCredentialsSource> fake_credentials() {
  return std::make_shared<FakeCredentialsSource>();
}

}  // namespace rctest
