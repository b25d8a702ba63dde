#include "auth/gcp_credentials.hpp"

#include "util/error.hpp"

namespace raycluster {

namespace {

class StaticToken final : public CredentialsSource<std::string> {
 public:
  explicit StaticToken(std::string token) : token_(std::move(token)) {}
  std::string get(const CancelToken&) override { return token_; }
  std::string refresh(const std::string&, const CancelToken&) override {
    throw Error(ErrorCode::auth,
                "GCP refused the access token of provider.gcp_credentials "
                "(type credentials_token); it cannot be refreshed: give a fresh token or a "
                "service-account key");
  }

 private:
  std::string token_;
};

}  // namespace

std::shared_ptr<CredentialsSource<std::string>> make_gcp_credentials_source(
    const GcpCredentialsConfig& config, const GcpEnvironment&, HttpTransport&, WallClock, Sleeper,
    RefreshOptions) {
  const Value& c = config.gcp_credentials;
  if (c.is_object()) {
    const Value* type = c.find("type");
    const Value* value = c.find("credentials");
    if (type && type->is_string() && type->as_string() == "credentials_token" && value &&
        value->is_string() && !value->as_string().empty())
      return std::make_shared<StaticToken>(value->as_string());
  }
  throw Error(ErrorCode::auth,
              "no usable GCP credentials: set provider.gcp_credentials to "
              "{type: credentials_token, credentials: <access token>}");
}

}  // namespace raycluster
