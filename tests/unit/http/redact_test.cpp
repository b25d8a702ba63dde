#include <doctest/doctest.h>

#include "http/http.hpp"

using namespace raycluster;

namespace {
bool hides(const std::string& text, const std::string& secret) {
  auto out = redact(text);
  INFO(out);
  return out.find(secret) == std::string::npos && out.find("[REDACTED") != std::string::npos;
}
}  // namespace

TEST_CASE("redact: headers that carry credentials") {
  CHECK(hides("Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/ec2/aws4_request, "
              "SignedHeaders=host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
              "5d672d79c15b"));
  CHECK(hides("x-amz-security-token: FQoGZXIvYXdzEJr//////////wEaDOPV", "FQoGZXIvYXdz"));
  CHECK(hides("Authorization: Bearer ya29.a0AfH6SMBx", "ya29.a0AfH6SMBx"));
  CHECK(hides("calling with bearer ya29.secretsecret", "ya29.secretsecret"));
  HttpHeaders h = {{"Authorization", "Bearer abc"}, {"X-Amz-Security-Token", "tok"},
                   {"Content-Type", "application/json"}};
  auto r = redact(h);
  CHECK(r[0].second == "[REDACTED]");
  CHECK(r[1].second == "[REDACTED]");
  CHECK(r[2].second == "application/json");
}

TEST_CASE("redact: secrets in JSON, XML, INI and query strings") {
  CHECK(hides(R"({"AccessKeyId":"AKIAX","SecretAccessKey":"wJalrXUtnFEMI/K7MDENG","Token":"IQoJb3JpZ2lu"})",
              "wJalrXUtnFEMI"));
  CHECK(hides(R"({"SecretAccessKey":"x","Token":"IQoJb3JpZ2lu"})", "IQoJb3JpZ2lu"));
  CHECK(hides(R"({"access_token": "ya29.c.Kp8B", "expires_in": 3599})", "ya29.c.Kp8B"));
  CHECK(hides(R"({"private_key_id": "abc123", "client_email": "x@y"})", "abc123"));
  CHECK(hides("<Credentials><SessionToken>AQoDYXdzEPT</SessionToken></Credentials>", "AQoDYXdzEPT"));
  CHECK(hides("aws_secret_access_key = wJalrXUtnFEMI\n", "wJalrXUtnFEMI"));
  CHECK(hides("aws_session_token=FwoGZXIvYXdzE\n", "FwoGZXIvYXdzE"));
  CHECK(hides("https://ec2.amazonaws.com/?Action=X&X-Amz-Security-Token=FQo123&X-Amz-Signature=abcdef",
              "FQo123"));
  CHECK(hides("https://ec2.amazonaws.com/?Action=X&X-Amz-Signature=abcdef01", "abcdef01"));
  CHECK(hides("grant_type=jwt&assertion=eyJhbGciOiJSUzI1NiJ9.e30.sig", "eyJhbGciOiJSUzI1NiJ9"));
  CHECK(hides(R"({"refresh_token":"1//0gabc","id_token":"eyJ"})", "1//0gabc"));
}

TEST_CASE("redact: PEM private keys, whole or cut off") {
  std::string pem =
      "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\nabc\n-----END RSA PRIVATE KEY-----\nafter";
  auto out = redact(pem);
  CHECK(out.find("MIIEowIBAAKCAQEA7") == std::string::npos);
  CHECK(out.find("after") != std::string::npos);
  CHECK(hides("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0B", "MIIEvQIBADANBgkq"));
  CHECK(hides(R"({"private_key": "-----BEGIN PRIVATE KEY-----\nMIIEvQ\n-----END PRIVATE KEY-----\n"})",
              "MIIEvQ"));
}

TEST_CASE("redact: odd input neither crashes nor leaks") {
  CHECK(hides("Authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"));
  CHECK(hides(R"({"token":"unterminated)", "unterminated"));
  CHECK(hides(R"({"password":"a\"b"})", "b\""));
  CHECK(redact("") == "");
  CHECK(redact("token") == "token");
  CHECK(redact("token=") == "token=");
  CHECK(redact("-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----") ==
        "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----");
  CHECK(redact("<Token>") == "<Token>");
}

TEST_CASE("redact: ordinary text is kept") {
  std::string plain = "GET https://ec2.us-east-1.amazonaws.com/?Action=DescribeInstances&NextToken=abc "
                      "HTTP 200 InstanceId=i-123";
  CHECK(redact(plain) == plain);
  HttpRequest req;
  req.method = "GET";
  req.url = "https://x.example/path?X-Amz-Credential=AKID%2F2015&a=b";
  auto d = describe(req);
  CHECK(d.find("AKID") == std::string::npos);
  CHECK(d.find("a=b") != std::string::npos);
}
