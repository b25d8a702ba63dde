// How the command line shows events: a live line per node on a terminal,
// plain prefixed lines when piped.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "util/event.hpp"

namespace raycluster::cli {

class Renderer {
 public:
  explicit Renderer(bool tty, bool verbose);
  ~Renderer();
  void on_event(const Event& e);
  // Prints a line above the live block (or plainly).
  void line(const std::string& text, bool is_error = false);
  void finish();

 private:
  void redraw();
  void clear_block();

  bool tty_;
  bool verbose_;
  std::mutex mu_;
  std::vector<std::string> order_;
  struct NodeLine {
    std::string type;
    std::string status;
    std::string last;
  };
  std::map<std::string, NodeLine> nodes_;
  int drawn_ = 0;
  std::string progress_;
};

}  // namespace raycluster::cli
