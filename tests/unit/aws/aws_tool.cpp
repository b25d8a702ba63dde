// aws_tool table             the Query-name table as JSON
// aws_tool encode < CONFIGS  one node_config (JSON) per line in, its Query
//                            parameters out as a JSON object per line
#include <iostream>
#include <string>

#include "providers/aws/query_names.hpp"
#include "util/error.hpp"
#include "util/value.hpp"

using namespace raycluster;
using namespace raycluster::detail::ec2;

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "table") {
    std::cout << query_table_json() << "\n";
    return 0;
  }
  if (mode == "encode") {
    std::string line;
    while (std::getline(std::cin, line)) {
      Value out = Value::object();
      try {
        QueryParams p;
        encode_node_config(Value::parse_json(line), "node_config", {}, p);
        for (auto& [k, v] : p) out.set(k, v);
      } catch (const Error& e) {
        out = Value::object();
        out.set("error", e.what());
      }
      std::cout << out.to_json() << "\n";
    }
    return 0;
  }
  std::cerr << "usage: aws_tool table | aws_tool encode < configs\n";
  return 2;
}
