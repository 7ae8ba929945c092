#include "ir_tools/common/input_file.h"

#include "ir_tools/common/bytes_read_adapter.h"
#include "ir_tools/common/class_merging.h"

#include "passes/core/archive_check.h"
#include "passes/core/error.h"
#include "passes/quantization/quantization_params.h"
#include "passes/core/string_utils.h"
#include "passes/core/verifier.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/csrc/jit/frontend/error_report.h>
#include <torch/csrc/jit/ir/irparser.h>
#include <torch/csrc/jit/serialization/import.h>
#include <torch/csrc/jit/serialization/pickle.h>

#include <caffe2/serialize/inline_container.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <limits>
#include <regex>
#include <sstream>
#include <unordered_map>

namespace tsopt {
namespace {

std::vector<std::string> splitLines(const std::string& text) {
  std::vector<std::string> lines;
  std::stringstream stream(text);
  std::string line;
  while (std::getline(stream, line)) {
    lines.push_back(line);
  }
  return lines;
}

[[noreturn]] void throwTooLarge(const std::string& path, uint64_t maxBytes) {
  throw Error(ErrorKind::Input, path + ": input is larger than " + std::to_string(maxBytes) +
                                    " bytes (raise the limit with --max-input-size)");
}

/// The stream's bytes, failing as soon as they pass `maxBytes` (0: no limit).
/// `expected`, the size when known, is reserved: one buffer of the file's
/// size rather than doublings of it (a 400 MB model briefly held 768 MB).
std::string readLimited(std::istream& stream, const std::string& path, uint64_t maxBytes, size_t expected = 0) {
  std::string bytes;
  bytes.reserve(expected);
  char buffer[1 << 16];
  while (stream.read(buffer, sizeof buffer) || stream.gcount() > 0) {
    bytes.append(buffer, static_cast<size_t>(stream.gcount()));
    if (maxBytes != 0 && bytes.size() > maxBytes) {
      throwTooLarge(path, maxBytes);
    }
  }
  return bytes;
}

std::string readAll(const std::string& path, uint64_t maxBytes) {
  if (path == "-") {
    return readLimited(std::cin, path, maxBytes);
  }
  std::error_code ignored;
  if (std::filesystem::is_directory(path, ignored)) {
    throw Error(ErrorKind::Input, path + ": is a directory, not a file");
  }
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    throw Error(ErrorKind::Input, path + ": cannot open file");
  }
  std::error_code noSize;
  const uintmax_t size = std::filesystem::file_size(path, noSize);
  if (!noSize && maxBytes != 0 && size > maxBytes) {
    throwTooLarge(path, maxBytes);
  }
  std::string bytes = readLimited(file, path, maxBytes, noSize ? 0 : static_cast<size_t>(size));
  if (file.bad()) {
    throw Error(ErrorKind::Input, path + ": cannot read file");
  }
  return bytes;
}

bool isBlankOrComment(const std::string& text) {
  for (const std::string& line : splitLines(text)) {
    size_t first = line.find_first_not_of(" \t\r");
    if (first != std::string::npos && line[first] != '#') {
      return false;
    }
  }
  return true;
}

struct Location {
  size_t line = 0;  ///< 1-based line within the parsed text; 0 when unknown.
  size_t column = 0;
};

// The IR parser reports errors as a message followed by the offending source
// lines and a "~~~ <--- HERE" marker under the error, but without line numbers.
// We find the marked line by matching the quoted lines back against the text.
Location locateMarkedLine(const std::vector<std::string>& source, const std::vector<std::string>& report,
                          size_t markerIndex, size_t& contextStart) {
  Location location;
  contextStart = markerIndex;
  std::vector<size_t> matches;
  for (size_t width = 1; width <= markerIndex; ++width) {
    std::vector<size_t> found;
    for (size_t end = width - 1; end < source.size(); ++end) {
      bool same = true;
      for (size_t k = 0; k < width && same; ++k) {
        same = source[end - k] == report[markerIndex - 1 - k];
      }
      if (same) {
        found.push_back(end);
      }
    }
    if (found.empty()) {
      break;
    }
    matches = found;
    contextStart = markerIndex - width;
  }
  if (matches.empty()) {
    return location;
  }
  const std::string& marker = report[markerIndex];
  location.line = matches.front() + 1;
  location.column = marker.find('~') == std::string::npos ? 1 : marker.find('~') + 1;
  return location;
}

// For "Cannot find a variable with name 'v'" the parser marks the token after
// the use; move the column back to the `%v` that names the undefined value.
void pointAtUndefinedUse(const std::string& message, const std::vector<std::string>& source,
                         Location& location) {
  static const std::string prefix = "Cannot find a variable with name '";
  size_t end = message.find('\'', prefix.size());
  if (location.line == 0 || location.line > source.size() || message.rfind(prefix, 0) != 0 ||
      end == std::string::npos) {
    return;
  }
  std::string use = "%" + message.substr(prefix.size(), end - prefix.size());
  size_t at = source[location.line - 1].rfind(use, location.column - 1);
  if (at != std::string::npos) {
    location.column = at + 1;
  }
}

std::string parseErrorMessage(const std::string& text, const std::string& what, Location& location) {
  std::vector<std::string> report = splitLines(what);
  std::vector<std::string> source = splitLines(text);
  for (size_t index = 1; index < report.size(); ++index) {
    if (report[index].find("<--- HERE") == std::string::npos) {
      continue;
    }
    size_t contextStart = index;
    location = locateMarkedLine(source, report, index, contextStart);
    std::string message;
    for (size_t k = 0; k < contextStart; ++k) {
      std::string part = firstLine(report[k]);
      if (!part.empty()) {
        message += (message.empty() ? "" : " ") + part;
      }
    }
    while (!message.empty() && (message.back() == ':' || message.back() == ' ')) {
      message.pop_back();
    }
    message = message.empty() ? firstLine(what) : message;
    pointAtUndefinedUse(message, source, location);
    return message;
  }
  return firstLine(what);
}

// The n-th node of a kind in block order is the n-th statement naming that
// kind in the text, since the parser builds nodes in textual order.
Location locateNode(const std::string& text, const torch::jit::Graph& graph, const torch::jit::Node* target) {
  size_t ordinal = 0;
  bool found = false;
  std::function<void(const torch::jit::Block*)> visit = [&](const torch::jit::Block* block) {
    for (const torch::jit::Node* node : block->nodes()) {
      if (found) {
        return;
      }
      if (node == target) {
        found = true;
        return;
      }
      ordinal += node->kind() == target->kind() ? 1 : 0;
      for (const torch::jit::Block* child : node->blocks()) {
        visit(child);
      }
    }
  };
  visit(graph.block());
  const std::string name = std::string(target->kind().toQualString()) + "(";
  std::vector<std::string> lines = splitLines(text);
  for (size_t index = 0; index < lines.size(); ++index) {
    std::string code = lines[index].substr(0, lines[index].find('#'));
    for (size_t at = code.find(name); at != std::string::npos; at = code.find(name, at + 1)) {
      if (ordinal-- == 0) {
        return Location{index + 1, at + 1};
      }
    }
  }
  return Location{};
}

// The parser numbers every value it defines; give back the names the text used
// (numeric names stay numbers), so output and messages read like the input.
void keepSourceNames(const std::unordered_map<std::string, torch::jit::Value*>& names) {
  for (const auto& [name, value] : names) {
    if (name.find_first_not_of("0123456789") != std::string::npos) {
      value->setDebugName(name);
    }
  }
}

std::vector<std::string> constantLines(const std::string& text) {
  std::vector<std::string> lines;
  for (const std::string& line : splitLines(text)) {
    std::string code = line.substr(0, line.find('#'));
    if (code.find("prim::Constant") != std::string::npos) {
      lines.push_back(code);
    }
  }
  return lines;
}

Location firstIncompleteTensorConstant(const std::string& text) {
  std::vector<std::string> lines = splitLines(text);
  for (size_t index = 0; index < lines.size(); ++index) {
    const std::string& line = lines[index];
    bool tensorConstant = line.find("value=<Tensor>") != std::string::npos || line.find("value={") != std::string::npos;
    if (tensorConstant && line.find("strides=") == std::string::npos) {
      return Location{index + 1, line.find("prim::Constant") + 1};
    }
  }
  return Location{};
}

// A one-element tensor constant prints its value, `value={8}`, which the JIT's
// parser reads as an uninitialized tensor: give it the printed value.
void fillScalarLiteral(const std::string& line, torch::jit::Node& node) {
  const std::string marker = "value={";
  size_t start = line.find(marker);
  size_t end = start == std::string::npos ? std::string::npos : line.find('}', start);
  at::Tensor tensor = node.t(c10::attr::value);
  if (end == std::string::npos || tensor.numel() != 1) {
    return;
  }
  std::string literal = line.substr(start + marker.size(), end - start - marker.size());
  char* parsedEnd = nullptr;
  double value = std::strtod(literal.c_str(), &parsedEnd);
  if (parsedEnd == literal.c_str() || *parsedEnd != '\0') {
    return;
  }
  at::Tensor filled = tensor.clone();
  filled.fill_(value);
  node.t_(c10::attr::value, filled);
}

// `value=<Tensor>` constants (how frozen weights print) parse as uninitialized
// tensors; give them deterministic pseudo-random contents instead, seeded by
// their position, so passes that read values behave the same on every run.
// Values are positive (floats in [0.5, 1.5), integers in 1..3) so that
// variances, divisors and square roots stay finite.
/// Calls fn(node, line, ordinal) for every prim::Constant of `graph` in
/// program order, nested blocks included, with the text of the constant line it
/// was parsed from (`text`'s constant lines, in the same order) and its
/// 1-based position among them.
void forEachConstant(const std::string& text, torch::jit::Graph& graph,
                     const std::function<void(torch::jit::Node&, const std::string&, size_t)>& fn) {
  std::vector<std::string> lines = constantLines(text);
  size_t ordinal = 0;
  std::function<void(torch::jit::Block*)> visit = [&](torch::jit::Block* block) {
    for (torch::jit::Node* node : block->nodes()) {
      if (node->kind() == c10::prim::Constant) {
        const std::string line = ordinal < lines.size() ? lines[ordinal] : std::string();
        fn(*node, line, ++ordinal);
      }
      for (torch::jit::Block* child : node->blocks()) {
        visit(child);
      }
    }
  };
  visit(graph.block());
}

void fillPlaceholderTensors(const std::string& text, torch::jit::Graph& graph) {
  forEachConstant(text, graph, [](torch::jit::Node& node, const std::string& line, size_t ordinal) {
    if (!node.hasAttribute(c10::attr::value) || node.kindOf(c10::attr::value) != torch::jit::AttributeKind::t) {
      return;
    }
    fillScalarLiteral(line, node);
    if (line.find("value=<Tensor>") != std::string::npos) {
      at::Tensor tensor = node.t(c10::attr::value);
      at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(ordinal);
      at::Tensor values = tensor.is_floating_point() ? at::rand(tensor.sizes(), generator, at::kDouble) + 0.5
                                                     : at::randint(1, 4, tensor.sizes(), generator, at::kLong);
      node.t_(c10::attr::value, values.to(tensor.scalar_type()).as_strided(tensor.sizes(), tensor.strides()));
    }
  });
}

// The graph printer writes non-finite float constants as `value=inf`, `-inf`
// or `nan`, which parseIR rejects. They are read as 0. and then given their value.
const std::vector<std::pair<std::string, double>>& nonFiniteLiterals() {
  static const std::vector<std::pair<std::string, double>> literals = {
      {"[value=-inf]", -std::numeric_limits<double>::infinity()},
      {"[value=inf]", std::numeric_limits<double>::infinity()},
      {"[value=nan]", std::numeric_limits<double>::quiet_NaN()}};
  return literals;
}

std::string acceptNonFiniteFloats(const std::string& text) {
  std::string result;
  for (std::string line : splitLines(text)) {
    if (line.find("prim::Constant") != std::string::npos) {
      for (const auto& [literal, value] : nonFiniteLiterals()) {
        size_t at = line.find(literal);
        if (at != std::string::npos) {
          line.replace(at, literal.size(), "[value=0.]");
        }
      }
    }
    result += line + "\n";
  }
  return result;
}

void restoreNonFiniteFloats(const std::string& text, torch::jit::Graph& graph) {
  forEachConstant(text, graph, [](torch::jit::Node& node, const std::string& line, size_t) {
    for (const auto& [literal, value] : nonFiniteLiterals()) {
      if (line.find(literal) != std::string::npos && node.hasAttribute(c10::attr::value) &&
          node.kindOf(c10::attr::value) == torch::jit::AttributeKind::f) {
        node.f_(c10::attr::value, value);
      }
    }
  });
}

// propagate-ranks gives values a rank without a dtype, which the printer
// writes as `%y : Tensor(*, *)` and parseIR rejects. They are read as `Tensor`
// and then given their rank again; `ranks` maps each such value's name to it.
std::string acceptRankOnlyTypes(const std::string& text, std::unordered_map<std::string, size_t>& ranks) {
  static const std::regex rankOnly(R"((%[A-Za-z0-9_.]+) : Tensor\(((?:\*(?:, \*)*)?)\))");
  std::string result;
  for (const std::string& line : splitLines(text)) {
    std::string rewritten;
    // Only code: a `# CHECK: %y : Tensor(*, *)` comment names no value.
    const auto code = line.begin() + static_cast<std::ptrdiff_t>(std::min(line.find('#'), line.size()));
    auto begin = std::sregex_iterator(line.begin(), code, rankOnly);
    size_t copied = 0;
    for (auto match = begin; match != std::sregex_iterator(); ++match) {
      const std::string dims = (*match)[2].str();
      ranks[(*match)[1].str().substr(1)] = dims.empty() ? 0 : (dims.size() + 2) / 3;
      rewritten += line.substr(copied, match->position() - copied) + (*match)[1].str() + " : Tensor";
      copied = match->position() + match->length();
    }
    result += rewritten + line.substr(copied) + "\n";
  }
  return result;
}

void restoreRanks(const std::unordered_map<std::string, size_t>& ranks,
                  const std::unordered_map<std::string, torch::jit::Value*>& names) {
  for (const auto& [name, rank] : ranks) {
    auto value = names.find(name);
    if (value != names.end()) {
      value->second->setType(c10::TensorType::create(c10::nullopt, c10::nullopt, rank, c10::nullopt));
    }
  }
}

// print(graph) writes a node without outputs as `indent + " = " + kind`, e.g.
// "   = prim::Print(%x)", which parseIR rejects. Drops the " = "; `removedAt`
// gets, per line, the column where it was (npos for lines left alone).
std::string acceptNodesWithoutOutputs(const std::string& text, std::vector<size_t>& removedAt) {
  std::string result;
  for (std::string line : splitLines(text)) {
    size_t first = line.find_first_not_of(" \t");
    bool printed = first != std::string::npos && first > 0 && line.compare(first, 2, "= ") == 0;
    removedAt.push_back(printed ? first - 1 : std::string::npos);
    result += (printed ? line.erase(first - 1, 3) : line) + "\n";
  }
  return result;
}

// parseIR stops after the graph's `return (...)` and silently ignores the rest
// of the text, e.g. a second graph when --split-input-file was forgotten.
// Returns where such text starts (line 0 when there is none).
Location textAfterReturn(const std::string& text) {
  std::vector<std::string> lines = splitLines(text);
  auto code = [&](size_t index) { return lines[index].substr(0, lines[index].find('#')); };
  size_t index = 0;
  for (; index < lines.size(); ++index) {
    std::string line = code(index);
    size_t first = line.find_first_not_of(" \t\r");
    if (first != std::string::npos && line.compare(first, 6, "return") == 0 &&
        (line.size() == first + 6 || line[first + 6] == ' ' || line[first + 6] == '(')) {
      break;
    }
  }
  int depth = 0;
  bool opened = false;
  for (; index < lines.size(); ++index) {
    std::string line = code(index);
    size_t at = 0;
    for (; at < line.size() && !(opened && depth == 0); ++at) {
      depth += line[at] == '(' ? 1 : line[at] == ')' ? -1 : 0;
      opened |= line[at] == '(';
    }
    if (opened && depth == 0) {
      size_t rest = line.find_first_not_of(" \t\r", at);
      if (rest != std::string::npos) {
        return Location{index + 1, rest + 1};
      }
      break;
    }
  }
  for (++index; index < lines.size(); ++index) {
    std::string line = code(index);
    size_t first = line.find_first_not_of(" \t\r");
    if (first != std::string::npos) {
      return Location{index + 1, first + 1};
    }
  }
  return Location{};
}

// What parseIR cannot be trusted with: it recurses once per nested bracket and
// block (deep nesting overflows the stack), LibTorch 1.13 reports a number out
// of range as a bare "stoll", and a tensor constant's declared size is
// allocated and filled while parsing. Checked on the text before parseIR sees it.
struct TextLimitIssue {
  Location location;
  std::string message;
};

bool isIdentifierChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '%'; }

/// The number literal starting at `at` (digits, optionally a fraction and an
/// exponent), or an issue when it is out of the range of its type.
std::optional<std::string> numberOutOfRange(const std::string& line, size_t at, size_t& end) {
  end = at;
  while (end < line.size() && std::isdigit(static_cast<unsigned char>(line[end]))) {
    ++end;
  }
  bool isFloat = false;
  if (end < line.size() && line[end] == '.') {
    isFloat = true;
    for (++end; end < line.size() && std::isdigit(static_cast<unsigned char>(line[end]));) {
      ++end;
    }
  }
  if (end < line.size() && (line[end] == 'e' || line[end] == 'E')) {
    size_t exponent = end + 1;
    exponent += exponent < line.size() && (line[exponent] == '-' || line[exponent] == '+') ? 1 : 0;
    if (exponent < line.size() && std::isdigit(static_cast<unsigned char>(line[exponent]))) {
      isFloat = true;
      for (end = exponent; end < line.size() && std::isdigit(static_cast<unsigned char>(line[end]));) {
        ++end;
      }
    }
  }
  const bool negative = at > 0 && line[at - 1] == '-';
  const std::string literal = (negative ? "-" : "") + line.substr(at, end - at);
  if (isFloat) {
    errno = 0;
    std::strtod(literal.c_str(), nullptr);
    if (errno == ERANGE) {  // Overflow, or underflow (which LibTorch's std::stod rejects too).
      return "float constant " + literal + " is out of the range of double";
    }
    return std::nullopt;
  }
  errno = 0;
  std::strtoll(literal.c_str(), nullptr, 10);
  if (errno == ERANGE) {
    return "integer " + literal + " is out of the range of int64 (" +
           std::to_string(std::numeric_limits<int64_t>::min()) + " to " +
           std::to_string(std::numeric_limits<int64_t>::max()) + ")";
  }
  return std::nullopt;
}

/// Elements a tensor type `Float(2, 3, strides=...)` starting at `open` (its
/// parenthesis) declares; saturates at UINT64_MAX.
uint64_t declaredElements(const std::string& line, size_t open) {
  uint64_t elements = 1;
  size_t at = open + 1;
  while (true) {
    at = line.find_first_not_of(' ', at);
    if (at == std::string::npos || !std::isdigit(static_cast<unsigned char>(line[at]))) {
      return elements;
    }
    size_t end = at;
    uint64_t dimension = 0;
    for (; end < line.size() && std::isdigit(static_cast<unsigned char>(line[end])); ++end) {
      const uint64_t digit = static_cast<uint64_t>(line[end] - '0');
      dimension = dimension > (UINT64_MAX - digit) / 10 ? UINT64_MAX : dimension * 10 + digit;
    }
    elements = dimension != 0 && elements > UINT64_MAX / dimension ? UINT64_MAX : elements * dimension;
    at = line.find_first_not_of(' ', end);
    if (at == std::string::npos || line[at] != ',') {
      return elements;
    }
    ++at;
  }
}

/// Steps over string literals on a line: true (the caller skips `line[at]`) inside one or at its opening quote,
/// with `at` moved past an escaped character; `quote` carries the state from one character to the next.
bool inString(const std::string& line, size_t& at, char& quote) {
  const char c = line[at];
  if (quote != 0) {
    at += c == '\\' ? 1 : 0;
    quote = c == quote ? 0 : quote;
    return true;
  }
  if (c == '"' || c == '\'') {
    quote = c;
    return true;
  }
  return false;
}

/// The columns of a line that are code: outside string literals (inString), before a `#` comment. Scanned in
/// order; a caller may skip ahead over characters that cannot open or close a string (digits).
class CodeColumns {
public:
  explicit CodeColumns(const std::string& line) : line_(line) {}
  /// The first code column at or after `from`, or npos where the code ends.
  size_t next(size_t from) {
    for (size_t at = from; at < line_.size(); ++at) {
      if (inString(line_, at, quote_)) {
        continue;
      }
      return line_[at] == '#' ? std::string::npos : at;
    }
    return std::string::npos;
  }

private:
  const std::string& line_;
  char quote_ = 0;
};

/// The column of an `annotate` on `line` whose type list LibTorch's IR parser would skip forever, or npos.
/// IRParser::bypassTypeAnnotationList skips tokens from there, counting '[' up and ']' down, until it has seen a
/// '[' and the count is back to 0, and never stops at the end of the text. Accepted here only when that happens
/// on the same line (the IR printer writes `annotate(List[int], [])` on one), outside strings and comments; in
/// one pass over the line: with S the running count, the skip from an `annotate` at count s, whose first '['
/// after it follows k ']', ends iff the count after that '[' (s - k + 1) comes back to s later (or is s).
size_t unclosedAnnotation(const std::string& line) {
  std::vector<int> sums;            // The running count after each bracket, in order.
  std::vector<size_t> annotations;  // Per `annotate`: its column,
  std::vector<size_t> before;       // and the number of brackets before it.
  int sum = 0;
  CodeColumns code(line);
  for (size_t at = code.next(0); at != std::string::npos; at = code.next(at + 1)) {
    const char c = line[at];
    if (c == '[' || c == ']') {
      sum += c == '[' ? 1 : -1;
      sums.push_back(sum);
    } else if (line.compare(at, 8, "annotate") == 0 && (at == 0 || !isIdentifierChar(line[at - 1])) &&
               (at + 8 == line.size() || !isIdentifierChar(line[at + 8]))) {
      annotations.push_back(at);
      before.push_back(sums.size());
    }
  }
  // From the right: the smallest and largest count at or after each bracket.
  std::vector<int> lowest(sums.size()), highest(sums.size());
  for (size_t index = sums.size(); index-- > 0;) {
    lowest[index] = index + 1 < sums.size() ? std::min(sums[index], lowest[index + 1]) : sums[index];
    highest[index] = index + 1 < sums.size() ? std::max(sums[index], highest[index + 1]) : sums[index];
  }
  for (size_t index = 0; index < annotations.size(); ++index) {
    const int start = before[index] == 0 ? 0 : sums[before[index] - 1];
    size_t open = before[index];
    while (open < sums.size() && sums[open] < (open == 0 ? 0 : sums[open - 1])) {
      ++open;  // The ']' before the first '['.
    }
    if (open == sums.size()) {
      return annotations[index];
    }
    const int after = sums[open];
    const bool closes = after == start || (after > start ? lowest[open] <= start : highest[open] >= start);
    if (!closes) {
      return annotations[index];
    }
  }
  return std::string::npos;
}

std::optional<TextLimitIssue> checkTextLimits(const std::string& text, const InputLimits& limits) {
  std::vector<std::string> lines = splitLines(text);
  size_t brackets = 0;
  size_t blocks = 0;
  for (size_t index = 0; index < lines.size(); ++index) {
    const std::string& line = lines[index];
    auto issue = [&](size_t column, std::string message) {
      return TextLimitIssue{Location{index + 1, column + 1}, std::move(message)};
    };
    const size_t first = line.find_first_not_of(" \t");
    if (const size_t annotation = unclosedAnnotation(line); annotation != std::string::npos) {
      return issue(annotation, "annotate(...) whose type list does not close on its line");
    }
    if (first != std::string::npos && line.compare(first, 5, "block") == 0 && ++blocks > limits.maxNesting) {
      return issue(first, "blocks nested deeper than " + std::to_string(limits.maxNesting) + " levels");
    }
    if (first != std::string::npos && line.compare(first, 2, "->") == 0 && blocks > 0) {
      --blocks;
    }
    CodeColumns code(line);
    for (size_t at = code.next(0); at != std::string::npos; at = code.next(at + 1)) {
      const char c = line[at];
      if (c == '(' || c == '[' || c == '{') {
        if (++brackets > limits.maxNesting) {
          return issue(at, "brackets nested deeper than " + std::to_string(limits.maxNesting) + " levels");
        }
        // A constant's tensor type: `%w : Float(2, 3, strides=...) = prim::Constant[...]`.
        size_t typeStart = at;
        while (typeStart > 0 && std::isalnum(static_cast<unsigned char>(line[typeStart - 1]))) {
          --typeStart;
        }
        const bool tensorType = c == '(' && typeStart < at && typeStart >= 2 &&
                                line.compare(typeStart - 2, 2, ": ") == 0 &&
                                std::isupper(static_cast<unsigned char>(line[typeStart])) &&
                                line.find("prim::Constant", at) != std::string::npos;
        const uint64_t elements = tensorType ? declaredElements(line, at) : 0;
        if (elements > limits.maxConstantElements) {
          return issue(typeStart, "tensor constant of " + std::to_string(elements) + " elements is over the limit of " +
                                      std::to_string(limits.maxConstantElements));
        }
      } else if (c == ')' || c == ']' || c == '}') {
        brackets -= brackets > 0 ? 1 : 0;
      } else if (std::isdigit(static_cast<unsigned char>(c)) && (at == 0 || !isIdentifierChar(line[at - 1]))) {
        size_t end = at;
        if (std::optional<std::string> message = numberOutOfRange(line, at, end)) {
          return issue(at > 0 && line[at - 1] == '-' ? at - 1 : at, *message);
        }
        at = end - 1;
      }
    }
  }
  return std::nullopt;
}

std::string where(const std::string& path, size_t firstLine, const Location& location) {
  if (location.line == 0) {
    return path + ":" + std::to_string(firstLine) + ":1: ";
  }
  return path + ":" + std::to_string(firstLine + location.line - 1) + ":" + std::to_string(location.column) + ": ";
}

/// The archive with its source-range records (`*.debug_pkl`) renamed, so
/// that LibTorch's loader does not find them (the names keep their length:
/// no offset moves; nothing else in an archive spells the suffix).
std::string withoutDebugRecords(std::string bytes) {
  const std::string suffix = kSourceRangeRecordSuffix;
  for (size_t at = bytes.find(suffix); at != std::string::npos; at = bytes.find(suffix, at + suffix.size())) {
    bytes[at + suffix.size() - 1] = '_';
  }
  return bytes;
}

/// Whether one source-range record holds what LibTorch's deserializer reads
/// without checking (it indexes its text table and the source text blindly):
/// a tuple of (byte offset, (source, start, end), ...) records, the source a
/// (text, filename, line) tuple or, with a text table, (text indices,
/// filename index, line), every index inside the table and every range
/// inside its text.
bool sourceRangesSound(const c10::IValue& root) {
  if (!root.isTuple() || root.toTupleRef().elements().empty()) {
    return false;
  }
  const auto& top = root.toTupleRef().elements();
  std::vector<size_t> texts;
  const bool table = top[0].isString();
  if (table) {
    if (top.size() != 3 || !top[1].isTuple() || !top[2].isTuple()) {
      return false;
    }
    for (const c10::IValue& text : top[1].toTupleRef().elements()) {
      if (!text.isString()) {
        return false;
      }
      texts.push_back(text.toStringRef().size());
    }
  }
  for (const c10::IValue& line : (table ? top[2] : root).toTupleRef().elements()) {
    if (!line.isTuple() || line.toTupleRef().elements().size() < 2) {
      return false;
    }
    const auto& record = line.toTupleRef().elements();
    if (!record[0].isInt() || !record[1].isTuple() || record[1].toTupleRef().elements().size() != 3) {
      return false;
    }
    const auto& range = record[1].toTupleRef().elements();
    if (!range[0].isTuple() || !range[1].isInt() || !range[2].isInt() ||
        range[0].toTupleRef().elements().size() != 3 || !range[0].toTupleRef().elements()[2].isInt()) {
      return false;
    }
    const auto& source = range[0].toTupleRef().elements();
    size_t length = 0;
    if (table) {
      if (!source[0].isIntList() || !source[1].isInt() || source[1].toInt() < 0 ||
          static_cast<size_t>(source[1].toInt()) >= texts.size()) {
        return false;
      }
      for (int64_t index : source[0].toIntList()) {
        if (index < 0 || static_cast<size_t>(index) >= texts.size()) {
          return false;
        }
        length += texts[static_cast<size_t>(index)];
      }
    } else {
      if (!source[0].isString() || !(source[1].isNone() || source[1].isString())) {
        return false;
      }
      length = source[0].toStringRef().size();
    }
    const int64_t start = range[1].toInt();
    const int64_t end = range[2].toInt();
    // LibTorch's fakeRange() (torch/csrc/jit/ir/ir.cpp), the range 0..1 over an empty text that
    // Graph::insert gives the nodes it makes (the tracer's, tsopt's passes'), is no damage.
    const bool placeholder = length == 0 && start == 0 && end == 1;
    if (start < 0 || start > end || (static_cast<size_t>(end) > length && !placeholder)) {
      return false;
    }
  }
  return true;
}

/// Whether every `*.debug_pkl` record of the archive (its source ranges,
/// which LibTorch reads only when it shows or saves one, without checks:
/// fuzz_archive found a crash in its deserializer) unpickles to sound ranges.
bool debugRecordsSound(const std::string& bytes) {
  try {
    caffe2::serialize::PyTorchStreamReader reader(readerOf(bytes));
    for (const std::string& name : reader.getAllRecords()) {
      if (!isSourceRangeRecord(name)) {
        continue;
      }
      auto [data, size] = reader.getRecord(name);
      if (!sourceRangesSound(torch::jit::unpickle(static_cast<const char*>(data.get()), size))) {
        return false;
      }
    }
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

/// Loads the archive `bytes`, first checked; with ModuleClasses::Merged, its
/// identical module classes merged (the weights are read in place, not copied).
torch::jit::Module loadArchive(const std::string& path, const std::string& bytes, std::optional<c10::Device> device,
                               ModuleClasses classes) {
  // LibTorch's zip reader and unpickler follow the archive's offsets and
  // lengths unchecked, and its loader trusts each tensor to fit its storage
  // record (docs/robustness.md): check them before it sees the bytes.
  std::optional<std::string> problem = archiveProblem(bytes);
  if (!problem) {
    problem = tensorStorageProblem(bytes, {"constants", "data"});
  }
  if (problem) {
    throw Error(ErrorKind::Input, path + ": cannot load TorchScript archive: " + *problem);
  }
  std::optional<ClassMerge> merge;
  if (classes == ModuleClasses::Merged) {
    try {
      merge = mergeIdenticalClasses(bytes);
    } catch (const std::exception&) {
      // LibTorch's reader refused a record: the load below reports it.
    }
  }
  // int8 weights are packed while loading, for the engine in effect: the one
  // the archive was quantized for, when it says.
  std::optional<QEngineScope> engineScope;
  if (std::optional<QuantizationRecord> record = readQuantizationRecord(path, bytes)) {
    checkMachineRuns(*record, path);
    engineScope.emplace(parseQEngine(record->engine, path));
  }
  c10::optional<c10::Device> mapLocation;
  if (device) {
    mapLocation = *device;
  }
  // `archive` is `bytes` or a copy with the source-range records hidden
  // (withoutDebugRecords), and the merge's tail the same.
  auto load = [&](const std::string& archive, const std::string& tail) {
    if (merge) {
      return torch::jit::load(std::make_shared<SplicedReadAdapter>(archive, merge->head, tail), mapLocation);
    }
    return torch::jit::load(readerOf(archive), mapLocation);
  };
  const std::string noTail;
  const std::string& tail = merge ? merge->tail : noTail;
  // Damaged source ranges are dropped, with a warning, rather than read.
  const bool debugSound = debugRecordsSound(bytes);
  if (!debugSound) {
    // A LibTorch warning: the tool that runs prints it under its own name.
    TORCH_WARN(path, ": its source-range records (*.debug_pkl) are damaged; loaded without them");
  }
  try {
    try {
      // Not `load(debugSound ? bytes : ...)`: that conditional is a copy of the archive.
      return debugSound ? load(bytes, tail) : load(withoutDebugRecords(bytes), withoutDebugRecords(tail));
    } catch (const torch::jit::ErrorReport&) {
      // The archive's code does not compile. The report's what() shows the
      // source ranges, reading the .debug_pkl records then, inside a noexcept
      // function: a damaged one ends the process (fuzz_archive). The same
      // error, loaded without them, reports on the archive's code instead.
      return load(withoutDebugRecords(bytes), withoutDebugRecords(tail));
    }
  } catch (const std::exception& error) {
    std::string reason = firstLine(error.what());
    bool wantsCuda = reason.find("CUDA") != std::string::npos || reason.find("cuda") != std::string::npos;
    if (wantsCuda && !device && !at::hasCUDA()) {
      // Tensors saved from a GPU (a module optimized with --device=cuda keeps its
      // packed weights there); LibTorch's own message spans several lines.
      reason = "it holds CUDA tensors and this process has no CUDA device (load it with --device=cpu, or "
               "run it on a machine with a GPU)";
    }
    throw Error(ErrorKind::Input, path + ": cannot load TorchScript archive: " + reason);
  }
}

} // namespace

namespace {
/// The file's size and modification time; none where it has none (stdin, a pipe).
std::optional<LoadedInput::FileStamp> stampOf(const std::string& path) {
  if (path == "-") {
    return std::nullopt;
  }
  std::error_code failed;
  LoadedInput::FileStamp stamp;
  stamp.size = std::filesystem::file_size(path, failed);
  if (!failed) {
    stamp.modified = std::filesystem::last_write_time(path, failed);
  }
  return failed ? std::nullopt : std::optional<LoadedInput::FileStamp>(stamp);
}
} // namespace

torch::jit::Module LoadedInput::freshModule() const {
  if (!archiveFile) {
    return loadArchive(path, archiveBytes, device, classes);
  }
  const std::optional<FileStamp> now = stampOf(path);
  std::string bytes;
  if (now && now->size == archiveFile->size && now->modified == archiveFile->modified) {
    bytes = readAll(path, 0);
  }
  if (bytes.size() != archiveFile->size || !now) {
    throw Error(ErrorKind::Input, path + ": the file changed while tsopt ran (it is read again for a fresh copy "
                                         "of the original module)");
  }
  return loadArchive(path, bytes, device, classes);
}

bool looksLikeArchive(const std::string& bytes) { return bytes.rfind("PK\x03\x04", 0) == 0; }

std::shared_ptr<torch::jit::Graph> parseGraphText(const std::string& source, const std::string& path,
                                                  size_t firstLine, const InputLimits& limits) {
  if (std::optional<TextLimitIssue> issue = checkTextLimits(source, limits)) {
    throw Error(ErrorKind::Input, where(path, firstLine, issue->location) + issue->message);
  }
  std::vector<size_t> removedAt;
  std::unordered_map<std::string, size_t> ranks;
  const std::string text =
      acceptRankOnlyTypes(acceptNonFiniteFloats(acceptNodesWithoutOutputs(source, removedAt)), ranks);
  auto graph = std::make_shared<torch::jit::Graph>();
  try {
    std::unordered_map<std::string, torch::jit::Value*> names;
    torch::jit::parseIR(text, graph.get(), names, /*parse_tensor_constants=*/true);
    keepSourceNames(names);
    restoreRanks(ranks, names);
  } catch (const std::out_of_range&) {
    // LibTorch 1.13's std::stoll/stod, whose what() is only "stoll": a number
    // checkTextLimits did not see as one.
    throw Error(ErrorKind::Input, where(path, firstLine, Location{}) + "a number is out of the range of its type");
  } catch (const std::exception& error) {
    Location location;
    std::string message = parseErrorMessage(text, error.what(), location);
    if (message.find("INTERNAL ASSERT FAILED") != std::string::npos) {
      // The parser asserts when a tensor constant's type lacks sizes or strides.
      location = firstIncompleteTensorConstant(text);
      message = "a tensor constant needs a type with sizes and strides, e.g. "
                "Float(2, 3, strides=[3, 1], requires_grad=0, device=cpu)";
    }
    size_t removed = location.line != 0 ? removedAt[location.line - 1] : std::string::npos;
    if (removed != std::string::npos && location.column > removed) {
      location.column += 3;  // Columns in `source`, before the " = " was dropped.
    }
    throw Error(ErrorKind::Input, where(path, firstLine, location) + message);
  }
  try {
    fillPlaceholderTensors(text, *graph);
  } catch (const std::exception& error) {
    // E.g. strides that reach past the tensor's sizes (setStorage's check).
    throw Error(ErrorKind::Input, where(path, firstLine, firstIncompleteTensorConstant(text)) +
                                      "bad tensor constant: " + tsopt::firstLine(error.what()));
  }
  restoreNonFiniteFloats(source, *graph);
  Location trailing = textAfterReturn(source);
  if (trailing.line != 0) {
    throw Error(ErrorKind::Input, where(path, firstLine, trailing) +
                                      "unexpected text after the graph's return (several graphs need "
                                      "--split-input-file and '" + kSplitMarker + "' lines)");
  }
  if (auto issue = verifyGraph(graph)) {
    Location location = issue->node ? locateNode(source, *graph, issue->node) : Location{};
    throw Error(ErrorKind::Input, where(path, firstLine, location) + issue->message);
  }
  return graph;
}

LoadedInput loadInput(const std::string& path, bool splitInputFile, std::optional<c10::Device> device,
                      const InputLimits& limits, ModuleClasses classes) {
  // The stamp comes first: a change after it shows in freshModule().
  const std::optional<LoadedInput::FileStamp> stamp = stampOf(path);
  LoadedInput input = loadInputBytes(path, readAll(path, limits.maxBytes), splitInputFile, device, limits, classes);
  if (input.module && stamp && stamp->size == input.archiveBytes.size()) {
    input.archiveFile = stamp;
    std::string().swap(input.archiveBytes);
  }
  return input;
}

LoadedInput loadInputBytes(const std::string& path, std::string bytes, bool splitInputFile,
                           std::optional<c10::Device> device, const InputLimits& limits, ModuleClasses classes) {
  if (limits.maxBytes != 0 && bytes.size() > limits.maxBytes) {
    throwTooLarge(path, limits.maxBytes);
  }
  LoadedInput input;
  input.path = path;
  input.device = device;
  input.classes = classes;
  if (bytes.empty()) {
    throw Error(ErrorKind::Input, path + ": empty input");
  }
  if (looksLikeArchive(bytes)) {
    if (splitInputFile) {
      throw Error(ErrorKind::Usage, path + ": --split-input-file needs IR text, not a TorchScript archive");
    }
    input.module = loadArchive(path, bytes, device, classes);
    input.quantization = readQuantizationRecord(path, bytes);
    input.archiveBytes = std::move(bytes);
    return input;
  }
  if (hasSuffix(path, ".pt") || hasSuffix(path, ".pth") || hasSuffix(path, ".zip")) {
    throw Error(ErrorKind::Input, path + ": not a TorchScript archive (no zip signature)");
  }
  if (bytes.find('\0') != std::string::npos) {
    throw Error(ErrorKind::Input, path + ": binary data is neither a TorchScript archive nor IR text");
  }
  std::vector<std::string> lines = splitLines(bytes);
  std::string chunk;
  size_t chunkStart = 1;
  auto flush = [&](size_t nextLine) {
    if (!isBlankOrComment(chunk)) {
      input.cases.push_back(IRCase{parseGraphText(chunk, path, chunkStart, limits), chunkStart});
    }
    chunk.clear();
    chunkStart = nextLine;
  };
  for (size_t index = 0; index < lines.size(); ++index) {
    if (splitInputFile && firstLine(lines[index]) == kSplitMarker) {
      flush(index + 2);
    } else {
      chunk += lines[index] + "\n";
    }
  }
  flush(lines.size() + 1);
  if (input.cases.empty()) {
    throw Error(ErrorKind::Input, path + ": no graph in input (only blank lines and comments)");
  }
  return input;
}

} // namespace tsopt
