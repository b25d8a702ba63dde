// wait_for_address: the one polling loop behind every cloud provider's
// command_runner() for a node launched a moment ago.
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <vector>

#include "providers/common/ssh_nodes.hpp"
#include "util/error.hpp"

using namespace raycluster;
using namespace raycluster::detail;
using std::chrono::milliseconds;

namespace {

// A clock that moves only when the provider sleeps.
struct FakeTime {
  std::chrono::system_clock::time_point t{};
  std::vector<milliseconds> sleeps;

  ProviderContext context(milliseconds timeout) {
    ProviderContext ctx;
    ctx.now = [this] { return t; };
    ctx.sleep = [this](std::chrono::milliseconds d, const CancelToken&) {
      sleeps.push_back(d);
      t += d;
      return true;
    };
    ctx.settings.address_timeout = timeout;
    return ctx;
  }
};

const AddressWords kWords{"private", "public", "in a subnet without public addresses"};

}  // namespace

TEST_CASE("the address the lookup finds after a few tries, with doubling waits") {
  FakeTime time;
  auto ctx = time.context(std::chrono::minutes(5));
  int calls = 0;
  auto host = wait_for_address(ctx, "i-1", false, kWords, [&]() -> std::string {
    return ++calls < 6 ? "" : "203.0.113.7";
  });
  CHECK(host == "203.0.113.7");
  CHECK(calls == 6);
  CHECK(time.sleeps == std::vector<milliseconds>{milliseconds(1000), milliseconds(2000),
                                                 milliseconds(4000), milliseconds(8000),
                                                 milliseconds(10000)});
}

TEST_CASE("no address before the deadline: a timeout that says what to set") {
  FakeTime time;
  auto ctx = time.context(std::chrono::seconds(30));
  try {
    wait_for_address(ctx, "i-2", false, kWords, [] { return std::string(); });
    FAIL("no timeout");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::timeout);
    std::string what = e.what();
    CHECK(what.find("i-2 has no public IP address") != std::string::npos);
    CHECK(what.find("provider.use_internal_ips: true") != std::string::npos);
  }
  CHECK(time.t - std::chrono::system_clock::time_point{} >= std::chrono::seconds(30));
  try {
    wait_for_address(ctx, "i-3", true, kWords, [] { return std::string(); });
    FAIL("no timeout");
  } catch (const Error& e) {
    std::string what = e.what();
    CHECK(what.find("i-3 has no private IP address") != std::string::npos);
    CHECK(what.find("use_internal_ips") == std::string::npos);
  }
}

TEST_CASE("a node that is gone ends the wait with the lookup's error") {
  FakeTime time;
  auto ctx = time.context(std::chrono::minutes(5));
  CHECK_THROWS_WITH(wait_for_address(ctx, "i-4", false, kWords,
                                     []() -> std::string {
                                       throw Error(ErrorCode::not_found, "instance i-4 is terminated");
                                     }),
                    "instance i-4 is terminated");
  CHECK(time.sleeps.empty());
}
