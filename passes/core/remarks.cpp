#include "passes/core/remarks.h"

#include "passes/core/pass.h"

#include <torch/csrc/jit/frontend/source_range.h>

namespace tsopt {

const char* remarkKindName(RemarkKind kind) {
  switch (kind) {
  case RemarkKind::Passed:
    return "passed";
  case RemarkKind::Missed:
    return "missed";
  case RemarkKind::Analysis:
    return "analysis";
  }
  return "passed";
}

std::string Remark::arg(const std::string& key) const {
  for (const auto& [name, value] : args) {
    if (name == key) {
      return value;
    }
  }
  return "";
}

std::optional<RemarkLocation> remarkLocationOf(const torch::jit::Node* node) {
  const torch::jit::SourceRange& range = node->sourceRange();
  if (!range.source()) {
    return std::nullopt;
  }
  if (auto fileLineColumn = range.file_line_col()) {
    const auto& [file, line, column] = *fileLineColumn;
    return RemarkLocation{file, line, column + 1};
  }
  // IR text: the graph's source is the text itself, without a file name.
  size_t line = range.source()->lineno_for_offset(range.start());
  size_t column = range.start() - range.source()->offset_for_line(line);
  return RemarkLocation{"", line + 1, column + 1};
}

Remark makeRemark(RemarkKind kind, const std::string& pass, const std::string& function,
                  const torch::jit::Node* node) {
  Remark remark;
  remark.kind = kind;
  remark.pass = pass;
  remark.function = function;
  if (node != nullptr) {
    remark.nodeKind = node->kind().toQualString();
    if (node->outputs().size() > 0) {
      remark.value = node->output(0)->debugName();
    }
    remark.location = remarkLocationOf(node);
  }
  return remark;
}

RemarkBuilder::RemarkBuilder(Remark remark, std::string messagePrefix, std::string debugPrefix,
                             PassContext* context)
    : remark_(std::move(remark)), messagePrefix_(std::move(messagePrefix)), debugPrefix_(std::move(debugPrefix)),
      context_(context) {}

RemarkBuilder::RemarkBuilder(RemarkBuilder&& other) noexcept
    : remark_(std::move(other.remark_)), messagePrefix_(std::move(other.messagePrefix_)),
      debugPrefix_(std::move(other.debugPrefix_)), context_(other.context_) {
  detail_ << other.detail_.str();
  other.context_ = nullptr;
}

RemarkBuilder& RemarkBuilder::arg(const std::string& key, const std::string& value) {
  if (context_ != nullptr) {
    remark_.args.emplace_back(key, value);
  }
  return *this;
}

RemarkBuilder::~RemarkBuilder() {
  if (context_ == nullptr) {
    return;
  }
  std::string detail = detail_.str();
  remark_.message = messagePrefix_ + detail;
  if (!messagePrefix_.empty()) {
    remark_.args.insert(remark_.args.begin(), {"reason", detail});
  }
  context_->emit(remark_, debugPrefix_ + detail);
}

} // namespace tsopt
