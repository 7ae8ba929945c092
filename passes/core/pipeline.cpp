#include "passes/core/pipeline.h"

#include "passes/core/error.h"

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
    return text_.substr(start, pos_ - start);
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
  return plain ? value : "'" + value + "'";
}

} // namespace

std::vector<PipelineElement> parsePipelineText(const std::string& text, const std::string& origin) {
  return PipelineLexer(text, origin).parse();
}

std::vector<std::unique_ptr<Pass>> buildPipeline(const std::string& text, const PassRegistry& registry,
                                                 const std::string& origin) {
  auto at = [&](size_t column) { return origin + ":" + std::to_string(column) + ": "; };
  std::vector<std::unique_ptr<Pass>> passes;
  for (const PipelineElement& element : parsePipelineText(text, origin)) {
    if (registry.find(element.passName) == nullptr) {
      std::string message = at(element.column) + "unknown pass '" + element.passName + "'";
      std::string nearest = registry.nearestName(element.passName);
      if (!nearest.empty()) {
        message += "; did you mean '" + nearest + "'?";
      }
      throw Error(ErrorKind::Usage, message);
    }
    std::unique_ptr<Pass> pass = registry.create(element.passName);
    for (const PipelineOption& option : element.options) {
      OptionBase* target = pass->findOption(option.key);
      if (target == nullptr) {
        std::string known;
        for (const OptionBase* candidate : pass->options()) {
          known += (known.empty() ? "" : ", ") + candidate->name();
        }
        throw Error(ErrorKind::Usage, at(option.keyColumn) + "unknown option '" + option.key +
                                          "' for pass '" + element.passName + "' (options: " +
                                          (known.empty() ? "none" : known) + ")");
      }
      std::string problem;
      if (!target->parse(option.value, problem)) {
        throw Error(ErrorKind::Usage, at(option.valueColumn) + "bad value for option '" + option.key +
                                          "' of pass '" + element.passName + "': " + problem);
      }
    }
    passes.push_back(std::move(pass));
  }
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
