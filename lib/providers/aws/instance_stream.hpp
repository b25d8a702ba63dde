// An instance list (DescribeInstances or RunInstances answer) parsed while
// it streams in.
//
// feed() takes the answer in pieces of any size, cut anywhere (inside a tag,
// a name, an entity, a CDATA section or a comment); finish() checks that the
// document ended and returns the page. A byte-level tag scanner follows the
// element nesting, cuts out each instance element (an <item> directly in an
// <instancesSet>), has parse_instance_fragment() parse it, and drops the
// bytes: memory stays at one instance element plus the records, however long
// the answer. The result is the same as parse_instances() on the whole body.
//
// Errors: feed() and finish() throw Error(invalid_request) for malformed XML
// or, in finish(), a truncated document; after that the stream stays failed
// until reset(). Not thread-safe: one stream per answer.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "providers/aws/ec2_xml.hpp"
#include "http/http.hpp"

namespace raycluster::detail::ec2 {

class InstanceStream {
 public:
  // Parses the next piece of the answer.
  void feed(std::string_view piece);
  // The page, once the whole answer was fed; the stream is then reset.
  InstancePage finish();
  // Forgets everything fed so far (a retried request starts over).
  void reset();

  // A sink feeding this stream and resetting it on a retry; the stream must
  // outlive the request it is given to.
  HttpBodySink sink();

 private:
  [[noreturn]] void fail(const std::string& why);
  void scan();

  std::string buf_;              // bytes not consumed yet
  std::size_t pos_ = 0;          // where scanning resumes in buf_
  std::size_t dropped_ = 0;      // bytes of the answer already dropped from buf_
  std::vector<std::string> open_;  // names of the open elements outside instances
  bool saw_root_ = false;
  bool in_item_ = false;         // inside an instance element
  std::size_t item_start_ = 0;   // its '<' in buf_
  int item_depth_ = 0;           // elements open in it, itself included
  bool in_token_ = false;        // after <nextToken>, before the next '<'
  std::size_t token_start_ = 0;
  bool failed_ = false;
  InstancePage page_;
};

}  // namespace raycluster::detail::ec2
