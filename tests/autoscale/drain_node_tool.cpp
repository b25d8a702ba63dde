// drain-node-tool GCS_URL NODE_ID_HEX...: one DrainNode request (idle
// termination) per node, in order, through one transport and the library's
// gRPC and message code; prints a line per node:
// {"outcome": "accepted"|"refused"|"error", "message": ...}.
#include <cstdio>
#include <iostream>

#include "http/grpc.hpp"
#include "monitor/drain.hpp"
#include "util/error.hpp"
#include "util/value.hpp"

using namespace raycluster;

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: drain-node-tool GCS_URL NODE_ID_HEX...\n";
    return 2;
  }
  auto transport = make_curl_transport();
  for (int i = 2; i < argc; ++i) {
    Value out = Value::object();
    try {
      std::string req = detail::encode_drain_request(argv[i], detail::kDrainReasonIdleTermination, "test", 0);
      auto g = detail::grpc_unary(*transport, argv[1], detail::kDrainNodeMethod, req,
                                  std::chrono::milliseconds(10000), {});
      if (g.status != 0) {
        out.set("outcome", "error");
        out.set("message", "grpc-status " + std::to_string(g.status) + ": " + g.message);
      } else {
        auto reply = detail::decode_drain_reply(g.body);
        out.set("outcome", reply.accepted ? "accepted" : "refused");
        out.set("message", reply.rejection);
      }
    } catch (const Error& e) {
      out.set("outcome", "error");
      out.set("message", e.what());
    }
    std::cout << out.to_json() << "\n";
  }
  return 0;
}
