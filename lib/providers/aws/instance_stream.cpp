#include "providers/aws/instance_stream.hpp"

#include <cstring>

#include "util/error.hpp"

namespace raycluster::detail::ec2 {
namespace {

constexpr auto npos = std::string_view::npos;

bool ends_name(char c) { return c == '>' || c == '/' || c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// The '>' that ends the tag starting at tag[0], looking from `from` on and
// skipping quoted attribute values; npos when it has not arrived yet.
std::size_t tag_end(std::string_view tag, std::size_t from) {
  char quote = 0;
  for (std::size_t q = from; q < tag.size(); ++q) {
    const char c = tag[q];
    if (quote) {
      if (c == quote) quote = 0;
    } else if (c == '>') {
      return q;
    } else if (c == '"' || c == '\'') {
      quote = c;
    }
  }
  return npos;
}

// How `rest` (text from a '<') relates to the literal opening of a construct.
enum class Opening { no, yes, undecided };
Opening opens(std::string_view rest, std::string_view literal) {
  if (rest.size() >= literal.size()) return rest.substr(0, literal.size()) == literal ? Opening::yes : Opening::no;
  return literal.substr(0, rest.size()) == rest ? Opening::undecided : Opening::no;
}

}  // namespace

void InstanceStream::fail(const std::string& why) {
  failed_ = true;
  throw Error(ErrorCode::invalid_request, "EC2 answered with malformed XML: " + why + " at offset " +
                                              std::to_string(dropped_ + pos_));
}

void InstanceStream::feed(std::string_view piece) {
  if (failed_) fail("the answer was already malformed");
  buf_.append(piece);
  try {
    scan();
  } catch (...) {
    failed_ = true;
    throw;
  }
  // Drop what is consumed; keep the open instance element or token text.
  std::size_t keep = in_item_ ? item_start_ : in_token_ ? token_start_ : pos_;
  if (keep == 0) return;
  buf_.erase(0, keep);
  pos_ -= keep;
  if (in_item_) item_start_ -= keep;
  if (in_token_) token_start_ -= keep;
  dropped_ += keep;
}

// Consumes every complete construct in buf_ from pos_; stops with pos_ at
// the '<' of one that is not complete yet (or at the end).
void InstanceStream::scan() {
  const std::size_t n = buf_.size();
  while (pos_ < n) {
    const char* base = buf_.data();
    const void* hit = std::memchr(base + pos_, '<', n - pos_);
    if (!hit) {
      pos_ = n;  // text: only a token's is kept (from token_start_)
      return;
    }
    const std::size_t lt = static_cast<std::size_t>(static_cast<const char*>(hit) - base);
    if (in_token_) {
      page_.next_token = parse_token_text(std::string_view(base + token_start_, lt - token_start_));
      in_token_ = false;
    }
    pos_ = lt;
    const std::string_view rest(base + lt, n - lt);
    if (rest.size() < 2) return;
    if (rest[1] == '?' || rest[1] == '!') {
      // Declaration, processing instruction, comment, CDATA, DOCTYPE: no
      // elements in them. Inside an instance element they stay in its text
      // and pugixml deals with them.
      std::size_t end;
      Opening comment = opens(rest, "<!--");
      Opening cdata = opens(rest, "<![CDATA[");
      if (comment == Opening::undecided || cdata == Opening::undecided) return;
      if (comment == Opening::yes) {
        end = rest.find("-->", 4);
        if (end != npos) end += 3;
      } else if (cdata == Opening::yes) {
        end = rest.find("]]>", 9);
        if (end != npos) end += 3;
      } else if (rest[1] == '?') {
        end = rest.find("?>", 2);
        if (end != npos) end += 2;
      } else {
        end = rest.find('>', 2);
        if (end != npos) end += 1;
      }
      if (end == npos) return;
      pos_ = lt + end;
      continue;
    }
    if (in_item_) {
      // Only nested <item> elements matter for finding where the instance
      // ends; pugixml checks everything else in it. (Outside comments,
      // CDATA and processing instructions every '<' starts a tag: '<' is
      // not allowed in attribute values.)
      if (rest.size() < 7) return;  // "</item>" at least still follows
      const bool end_tag = rest[1] == '/';
      const std::string_view tail = rest.substr(end_tag ? 2 : 1);
      if (tail.substr(0, 4) != "item" || !ends_name(tail[4])) {
        pos_ = lt + 1;
        continue;
      }
      const std::size_t gt = tag_end(rest, 5);
      if (gt == npos) return;
      const std::size_t after = lt + gt + 1;
      if (end_tag) {
        if (--item_depth_ == 0) {
          page_.instances.push_back(
              parse_instance_fragment(buf_.data() + item_start_, after - item_start_, dropped_ + item_start_));
          in_item_ = false;
        }
      } else if (rest[gt - 1] != '/') {
        ++item_depth_;
      }
      pos_ = after;
      continue;
    }
    const bool closing = rest[1] == '/';
    std::size_t q = closing ? 2 : 1;
    while (q < rest.size() && !ends_name(rest[q])) ++q;
    if (q >= rest.size()) return;
    const std::string_view name = rest.substr(closing ? 2 : 1, q - (closing ? 2 : 1));
    q = tag_end(rest, q);
    if (q == npos) return;
    const bool empty = !closing && rest[q - 1] == '/';
    const std::size_t after = lt + q + 1;
    if (name.empty()) fail("a tag without a name");
    if (closing) {
      if (open_.empty() || open_.back() != name) fail("mismatched end tag");
      open_.pop_back();
      pos_ = after;
      continue;
    }
    if (open_.empty()) {
      if (saw_root_) fail("more than one root element");
      saw_root_ = true;
    }
    pos_ = after;
    if (empty) continue;
    if (name == "item" && !open_.empty() && open_.back() == "instancesSet") {
      in_item_ = true;
      item_start_ = lt;
      item_depth_ = 1;
      continue;
    }
    if (name == "nextToken" && open_.size() == 1) {
      in_token_ = true;
      token_start_ = after;
    }
    open_.emplace_back(name);
  }
}

InstancePage InstanceStream::finish() {
  if (failed_) fail("the answer was already malformed");
  if (!saw_root_ || !open_.empty() || in_item_ || pos_ < buf_.size()) fail("truncated document");
  InstancePage page = std::move(page_);
  reset();
  return page;
}

void InstanceStream::reset() {
  buf_.clear();
  pos_ = 0;
  dropped_ = 0;
  open_.clear();
  saw_root_ = false;
  in_item_ = false;
  item_start_ = 0;
  item_depth_ = 0;
  in_token_ = false;
  token_start_ = 0;
  failed_ = false;
  page_ = InstancePage{};
}

HttpBodySink InstanceStream::sink() {
  HttpBodySink s;
  s.restart = [this] { reset(); };
  s.write = [this](std::string_view piece) { feed(piece); };
  return s;
}

}  // namespace raycluster::detail::ec2
