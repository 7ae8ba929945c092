//===- remarks.h - Optimization remarks, as LLVM has them -----------------===//
///
/// A remark tells a user what a pass did or did not do to one node, and why:
///   passed:   "fuse %y = aten::conv2d + %z = aten::relu into tsopt::conv2d_act"
///   missed:   "kept aten::batch_norm: its input is used twice"
///   analysis: a fact a pass found (a layout, a shape) that explains later remarks.
/// Passes emit them through PassContext (remarkPassed comes with shouldRewrite;
/// missed() and analysis() return a RemarkBuilder). The pass manager hands each
/// finished remark to the RemarkHandler of its Instrumentation; the tsopt
/// driver prints them (-Rpass=...), writes them (--remarks-file) and sums
/// them up (--report=coverage). A missed remark is also the pass's
/// --debug-only line, so the two never disagree.
///
//===----------------------------------------------------------------------===//
#pragma once

#include <torch/csrc/jit/ir/ir.h>

#include <cstddef>
#include <functional>
#include <optional>
#include <ostream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace tsopt {

class PassContext;

enum class RemarkKind { Passed, Missed, Analysis };

/// "passed", "missed" or "analysis": the spelling of remark files and of the
/// -Rpass flags.
const char* remarkKindName(RemarkKind kind);

/// Where a node came from. `file` is empty for IR text, whose graph knows its
/// text but not its file name: the driver fills it in. Lines and columns count from 1.
struct RemarkLocation {
  std::string file;
  size_t line = 0;
  size_t column = 0;
};

struct Remark {
  RemarkKind kind = RemarkKind::Passed;
  std::string pass;
  std::string function;  ///< The method (e.g. "forward"); empty for bare graphs.
  std::string nodeKind;  ///< e.g. "aten::batch_norm"; empty when no node is named.
  std::string value;     ///< Debug name of the node's first output, without '%'.
  std::optional<RemarkLocation> location;
  std::string message;
  std::vector<std::pair<std::string, std::string>> args;

  /// The value of argument `key`, or "" when there is none.
  std::string arg(const std::string& key) const;
};

using RemarkHandler = std::function<void(const Remark&)>;

/// The location of `node`'s source range, when the graph records one: a
/// scripted module's Python file, or the offset in the IR text it was parsed from.
std::optional<RemarkLocation> remarkLocationOf(const torch::jit::Node* node);

/// A remark of `kind` about `node` (may be null) from `pass` in `function`.
Remark makeRemark(RemarkKind kind, const std::string& pass, const std::string& function,
                  const torch::jit::Node* node);

/// Collects the message of one remark with operator<< and `arg()`, and hands
/// the remark over when it goes out of scope (at the end of the statement):
///   context.missed(node) << "its input is used twice";
/// An inactive builder (no handler, no debug stream) formats nothing.
class RemarkBuilder {
public:
  /// The message is `messagePrefix` and the streamed text, the debug line
  /// `debugPrefix` and the same text; `context` (null: inactive) receives both.
  RemarkBuilder(Remark remark, std::string messagePrefix, std::string debugPrefix, PassContext* context);
  RemarkBuilder(RemarkBuilder&& other) noexcept;
  RemarkBuilder(const RemarkBuilder&) = delete;
  RemarkBuilder& operator=(const RemarkBuilder&) = delete;
  RemarkBuilder& operator=(RemarkBuilder&&) = delete;
  ~RemarkBuilder();

  template <typename T> RemarkBuilder& operator<<(const T& text) {
    if (context_ != nullptr) {
      detail_ << text;
    }
    return *this;
  }
  /// A key/value argument, e.g. arg("reason", "bias-shared") for tools that count.
  RemarkBuilder& arg(const std::string& key, const std::string& value);

private:
  Remark remark_;
  std::string messagePrefix_;
  std::string debugPrefix_;
  std::ostringstream detail_;
  PassContext* context_;
};

} // namespace tsopt
