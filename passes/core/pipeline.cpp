#include "passes/core/pipeline.h"

#include "passes/core/error.h"

#include <algorithm>
#include <cctype>

namespace tsopt {
namespace {

class PipelineLexer {
public:
  PipelineLexer(const std::string& text, const std::string& origin) : text_(text), origin_(origin) {}

  std::vector<PipelineElement> parse() {
    std::vector<PipelineElement> elements;
    skipSpace();
    if (atEnd()) {
      fail(pos_, "empty pipeline");
    }
    while (true) {
      elements.push_back(parseElement());
      skipSpace();
      if (atEnd()) {
        return elements;
      }
      if (peek() != ',') {
        fail(pos_, std::string("expected ',' or end of pipeline, found '") + peek() + "'");
      }
      ++pos_;
      skipSpace();
    }
  }

private:
  bool atEnd() const { return pos_ >= text_.size(); }
  char peek() const { return text_[pos_]; }
  void skipSpace() {
    while (!atEnd() && std::isspace(static_cast<unsigned char>(peek()))) {
      ++pos_;
    }
  }
  static bool isNameChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_'; }

  [[noreturn]] void fail(size_t position, const std::string& message) const {
    throw Error(ErrorKind::Usage, origin_ + ":" + std::to_string(position + 1) + ": " + message);
  }

  std::string parseName(const char* what) {
    size_t start = pos_;
    while (!atEnd() && isNameChar(peek())) {
      ++pos_;
    }
    if (pos_ == start) {
      if (atEnd()) {
        fail(pos_, std::string("expected ") + what + " at end of pipeline");
      }
      fail(pos_, std::string("expected ") + what + ", found '" + peek() + "'");
    }
    return text_.substr(start, pos_ - start);
  }

  PipelineElement parseElement() {
    PipelineElement element;
    element.column = pos_ + 1;
    element.passName = parseName("a pass name");
    skipSpace();
    if (!atEnd() && peek() == '{') {
      parseOptions(element);
    } else if (!atEnd() && peek() == '}') {
      fail(pos_, "unbalanced '}' without a matching '{'");
    }
    return element;
  }

  void parseOptions(PipelineElement& element) {
    size_t open = pos_++;
    while (true) {
      skipSpace();
      if (atEnd()) {
        fail(open, "unbalanced '{': missing '}' for the options of '" + element.passName + "'");
      }
      if (peek() == '}') {
        ++pos_;
        return;
      }
      PipelineOption option;
      option.keyColumn = pos_ + 1;
      option.key = parseName("an option name");
      for (const PipelineOption& previous : element.options) {
        if (previous.key == option.key) {
          fail(option.keyColumn - 1, "option '" + option.key + "' given twice");
        }
      }
      if (!atEnd() && peek() == '=') {
        ++pos_;
        option.valueColumn = pos_ + 1;
        option.value = parseValue(open, element.passName);
      } else {
        option.valueColumn = option.keyColumn;
      }
      element.options.push_back(std::move(option));
    }
  }

  std::string parseValue(size_t open, const std::string& passName) {
    if (!atEnd() && (peek() == '\'' || peek() == '"')) {
      char quote = peek();
      size_t start = ++pos_;
      while (!atEnd() && peek() != quote) {
        ++pos_;
      }
      if (atEnd()) {
        fail(start - 1, "unterminated quoted value");
      }
      return text_.substr(start, pos_++ - start);
    }
    size_t start = pos_;
    while (!atEnd() && peek() != '}' && !std::isspace(static_cast<unsigned char>(peek()))) {
      if (peek() == '{') {
        fail(pos_, "unexpected '{' inside the options of '" + passName + "'");
      }
      ++pos_;
    }
    if (atEnd()) {
      fail(open, "unbalanced '{': missing '}' for the options of '" + passName + "'");
    }
    std::string value = text_.substr(start, pos_ - start);
    // A quoted value holds one quote kind at most; so must a bare one, or
    // printPipeline could not quote it (the syntax has no escapes).
    if (value.find('\'') != std::string::npos && value.find('"') != std::string::npos) {
      fail(start, "an option value cannot hold both ' and \" (pipeline text has no escapes)");
    }
    return value;
  }

  const std::string& text_;
  const std::string& origin_;
  size_t pos_ = 0;
};

std::string quoteIfNeeded(const std::string& value) {
  bool plain = !value.empty();
  for (char c : value) {
    if (std::isspace(static_cast<unsigned char>(c)) || c == '{' || c == '}' || c == '\'' || c == '"') {
      plain = false;
    }
  }
  // Quoted with the quote it does not contain: the lexer has no escapes, and
  // refuses a value holding both.
  const char quote = value.find('\'') == std::string::npos ? '\'' : '"';
  return plain ? value : quote + value + quote;
}

} // namespace

std::vector<PipelineElement> parsePipelineText(const std::string& text, const std::string& origin) {
  return PipelineLexer(text, origin).parse();
}

namespace {

/// Named pipelines nest (O3 names O2, which names O1); deeper than this is a cycle.
constexpr int kMaxPipelineNesting = 16;

/// "a, b" for the options of passes[first...], each named once, or "none".
std::string optionNames(const std::vector<std::unique_ptr<Pass>>& passes, size_t first) {
  std::vector<std::string> names;
  std::string text;
  for (size_t index = first; index < passes.size(); ++index) {
    for (const OptionBase* option : passes[index]->options()) {
      if (std::find(names.begin(), names.end(), option->name()) == names.end()) {
        names.push_back(option->name());
        text += (text.empty() ? "" : ", ") + option->name();
      }
    }
  }
  return text.empty() ? "none" : text;
}

void appendPipeline(const std::string& text, const PassRegistry& registry, const std::string& origin,
                    bool hasModule, int nesting, std::vector<std::unique_ptr<Pass>>& passes) {
  auto at = [&](size_t column) { return origin + ":" + std::to_string(column) + ": "; };
  for (const PipelineElement& element : parsePipelineText(text, origin)) {
    const PassRegistration* registration = registry.find(element.passName);
    if (registration == nullptr) {
      std::string message = at(element.column) + "unknown pass '" + element.passName + "'";
      std::string nearest = registry.nearestName(element.passName);
      if (!nearest.empty()) {
        message += "; did you mean '" + nearest + "'?";
      }
      throw Error(ErrorKind::Usage, message);
    }
    size_t first = passes.size();
    std::string what = (registration->isPipeline() ? "pipeline '" : "pass '") + element.passName + "'";
    if (registration->isPipeline()) {
      if (nesting >= kMaxPipelineNesting) {
        throw Error(ErrorKind::Usage, at(element.column) + what + " nests too deeply: does it name itself?");
      }
      appendPipeline(registration->pipeline(hasModule), registry, what, hasModule, nesting + 1, passes);
    } else {
      passes.push_back(registry.create(element.passName));
    }
    // An option of a named pipeline sets it in every pass of the pipeline that has it.
    for (const PipelineOption& option : element.options) {
      bool known = false;
      for (size_t index = first; index < passes.size(); ++index) {
        OptionBase* target = passes[index]->findOption(option.key);
        if (target == nullptr) {
          continue;
        }
        known = true;
        std::string problem;
        if (!target->parse(option.value, problem)) {
          throw Error(ErrorKind::Usage, at(option.valueColumn) + "bad value for option '" + option.key + "' of " +
                                            what + ": " + problem);
        }
      }
      if (!known) {
        throw Error(ErrorKind::Usage, at(option.keyColumn) + "unknown option '" + option.key + "' for " + what +
                                          " (options: " + optionNames(passes, first) + ")");
      }
    }
  }
}

} // namespace

std::vector<std::unique_ptr<Pass>> buildPipeline(const std::string& text, const PassRegistry& registry,
                                                 const std::string& origin, bool hasModule) {
  std::vector<std::unique_ptr<Pass>> passes;
  appendPipeline(text, registry, origin, hasModule, 0, passes);
  return passes;
}

std::string printPipeline(const std::vector<std::unique_ptr<Pass>>& passes) {
  std::string text;
  for (const auto& pass : passes) {
    text += (text.empty() ? "" : ",") + pass->name();
    if (pass->options().empty()) {
      continue;
    }
    text += "{";
    bool first = true;
    for (const OptionBase* option : pass->options()) {
      text += (first ? "" : " ") + option->name() + "=" + quoteIfNeeded(option->valueText());
      first = false;
    }
    text += "}";
  }
  return text;
}

} // namespace tsopt
