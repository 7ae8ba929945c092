#include "passes/core/pass.h"

#include "passes/core/graph_utils.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <ostream>
#include <sstream>

namespace tsopt {

OptionBase::OptionBase(Pass* owner, std::string name, std::string description)
    : name_(std::move(name)), description_(std::move(description)) {
  owner->options_.push_back(this);
}

Statistic::Statistic(Pass* owner, std::string name, std::string description)
    : name_(std::move(name)), description_(std::move(description)) {
  owner->statistics_.push_back(this);
}

OptionBase* Pass::findOption(const std::string& name) const {
  for (OptionBase* option : options_) {
    if (option->name() == name) {
      return option;
    }
  }
  return nullptr;
}

PassContext::PassContext(std::string passName, std::string methodName, bool hasModule, std::ostream* debugStream,
                         RewriteBudget* budget, RemarkHandler remarkHandler)
    : passName_(std::move(passName)), methodName_(std::move(methodName)), hasModule_(hasModule),
      debugStream_(debugStream), budget_(budget), remarkHandler_(std::move(remarkHandler)) {}

bool PassContext::shouldRewrite(const std::string& description, const torch::jit::Node* node,
                                const std::vector<torch::jit::Node*>& absorbed) {
  if (budget_ != nullptr) {
    ++budget_->used;
    if (budget_->limit && budget_->used > *budget_->limit) {
      debug() << "rewrite budget exhausted: skipped " << description << "\n";
      return false;
    }
    budget_->lastAllowed = description;
  }
  if (remarkHandler_) {
    Remark remark = makeRemark(RemarkKind::Passed, passName_, remarkFunction(), node);
    remark.message = description;
    std::string kinds;
    for (const torch::jit::Node* part : absorbed) {
      if (!kinds.empty()) {
        kinds += ',';
      }
      kinds += part->kind().toQualString();
    }
    if (!kinds.empty()) {
      remark.args.emplace_back("absorbed", kinds);
    }
    remarkHandler_(remark);
  }
  return true;
}

RemarkBuilder PassContext::build(RemarkKind kind, const torch::jit::Node* node, std::string messagePrefix,
                                 std::string debugPrefix) {
  if (!remarksEnabled()) {
    return RemarkBuilder(Remark{}, "", "", nullptr);
  }
  return RemarkBuilder(makeRemark(kind, passName_, remarkFunction(), node), std::move(messagePrefix),
                       std::move(debugPrefix), this);
}

RemarkBuilder PassContext::missed(const torch::jit::Node* node) {
  return build(RemarkKind::Missed, node, std::string("kept ") + node->kind().toQualString() + ": ",
               "kept " + describeNode(node) + ": ");
}

RemarkBuilder PassContext::missedText(const torch::jit::Node* node) {
  return build(RemarkKind::Missed, node, "", "");
}

RemarkBuilder PassContext::analysis(const torch::jit::Node* node) {
  return build(RemarkKind::Analysis, node, "", "");
}

void PassContext::emit(Remark& remark, const std::string& debugLine) {
  debug() << debugLine << "\n";
  if (remarkHandler_) {
    remarkHandler_(remark);
  }
}

std::ostream& PassContext::debug() {
  if (debugStream_ != nullptr) {
    return *debugStream_ << passName_ << ": ";
  }
  static std::ostream discard(nullptr);
  return discard;
}

bool parseOptionValue(const std::string& text, bool& out, std::string& error) {
  if (text == "true" || text == "1" || text.empty()) {
    out = true;
    return true;
  }
  if (text == "false" || text == "0") {
    out = false;
    return true;
  }
  error = "expected true or false, got '" + text + "'";
  return false;
}

bool parseOptionValue(const std::string& text, int64_t& out, std::string& error) {
  errno = 0;
  char* end = nullptr;
  long long value = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno == ERANGE) {
    error = "expected an integer, got '" + text + "'";
    return false;
  }
  out = value;
  return true;
}

bool parseOptionValue(const std::string& text, double& out, std::string& error) {
  errno = 0;
  char* end = nullptr;
  double value = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || errno == ERANGE || !std::isfinite(value)) {
    error = "expected a finite number, got '" + text + "'";
    return false;
  }
  out = value;
  return true;
}

bool parseOptionValue(const std::string& text, std::string& out, std::string&) {
  out = text;
  return true;
}

bool parseOptionValue(const std::string& text, std::vector<std::string>& out, std::string& error) {
  out.clear();
  if (text.empty()) {
    return true;
  }
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ',')) {
    if (item.empty()) {
      error = "empty element in list '" + text + "'";
      return false;
    }
    out.push_back(item);
  }
  if (text.back() == ',') {
    error = "empty element in list '" + text + "'";
    return false;
  }
  return true;
}

std::string optionTypeName(const bool*) { return "bool"; }
std::string optionTypeName(const int64_t*) { return "int"; }
std::string optionTypeName(const double*) { return "float"; }
std::string optionTypeName(const std::string*) { return "string"; }
std::string optionTypeName(const std::vector<std::string>*) { return "list"; }

std::string optionValueText(const bool& value) { return value ? "true" : "false"; }
std::string optionValueText(const int64_t& value) { return std::to_string(value); }
std::string optionValueText(const double& value) {
  std::ostringstream out;
  out << value;
  return out.str();
}
std::string optionValueText(const std::string& value) { return value; }
std::string optionValueText(const std::vector<std::string>& value) {
  std::string text;
  for (const std::string& item : value) {
    text += (text.empty() ? "" : ",") + item;
  }
  return text;
}

} // namespace tsopt
