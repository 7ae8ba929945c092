#include "ir_tools/tsopt/remark_output.h"

#include "ir_tools/tsdump/json_writer.h"
#include "passes/core/error.h"
#include "passes/core/string_utils.h"

#include <ostream>
#include <sstream>
#include <utility>

namespace tsopt {
namespace {

size_t indexOf(RemarkKind kind) { return static_cast<size_t>(kind); }

/// A YAML single-quoted scalar: quotes are doubled, and a line break (which
/// YAML would fold) becomes a space.
std::string yamlQuote(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) {
    if (c == '\'') {
      quoted += "''";
    } else {
      quoted += c == '\n' ? ' ' : c;
    }
  }
  return quoted + "'";
}

/// LLVM's tag of a remark kind: !Passed, !Missed, !Analysis.
std::string yamlTag(RemarkKind kind) {
  std::string name = remarkKindName(kind);
  name[0] = static_cast<char>(name[0] - 'a' + 'A');
  return "!" + name;
}

} // namespace

void RemarkFilter::setPattern(RemarkKind kind, const std::string& flag, const std::string& pattern) {
  try {
    patterns_[indexOf(kind)] = std::regex(pattern, std::regex::ECMAScript);
  } catch (const std::regex_error& error) {
    throw Error(ErrorKind::Usage, "option '" + flag + "': invalid regular expression '" + pattern + "': " + error.what());
  }
}

bool RemarkFilter::empty() const {
  for (const auto& pattern : patterns_) {
    if (pattern) {
      return false;
    }
  }
  return true;
}

bool RemarkFilter::selects(const Remark& remark) const {
  const auto& pattern = patterns_[indexOf(remark.kind)];
  return pattern && std::regex_search(remark.pass, *pattern);
}

std::string remarkFlag(RemarkKind kind) {
  return kind == RemarkKind::Passed ? "-Rpass" : std::string("-Rpass-") + remarkKindName(kind);
}

std::string remarkLine(const Remark& remark, const std::string& fallback) {
  std::string where = fallback;
  if (remark.location && !remark.location->file.empty()) {
    where = remark.location->file + ":" + std::to_string(remark.location->line) + ":" +
            std::to_string(remark.location->column);
  } else if (!remark.value.empty()) {
    where = (remark.function.empty() ? fallback : remark.function) + ":%" + remark.value;
  } else if (!remark.function.empty()) {
    where = remark.function;
  }
  return where + ": remark: " + remark.message + " [" + remarkFlag(remark.kind) + "=" + remark.pass + "]";
}

RemarkFormat remarkFormatFor(const std::string& format, const std::string& path) {
  if (format.empty()) {
    return hasSuffix(path, ".json") ? RemarkFormat::Json : RemarkFormat::Yaml;
  }
  if (format == "yaml") {
    return RemarkFormat::Yaml;
  }
  if (format == "json") {
    return RemarkFormat::Json;
  }
  throw Error(ErrorKind::Usage, "option '--remarks-format': unknown format '" + format + "' (use yaml or json)");
}

std::string remarksYaml(const std::vector<Remark>& remarks) {
  std::ostringstream out;
  for (const Remark& remark : remarks) {
    out << "--- " << yamlTag(remark.kind) << "\n"
        << "Pass:     " << yamlQuote(remark.pass) << "\n";
    if (!remark.function.empty()) {
      out << "Function: " << yamlQuote(remark.function) << "\n";
    }
    if (!remark.nodeKind.empty()) {
      out << "Node:     " << yamlQuote(remark.nodeKind) << "\n";
    }
    if (!remark.value.empty()) {
      out << "Value:    " << yamlQuote("%" + remark.value) << "\n";
    }
    if (remark.location) {
      out << "DebugLoc: { File: " << yamlQuote(remark.location->file) << ", Line: " << remark.location->line
          << ", Column: " << remark.location->column << " }\n";
    }
    out << "Message:  " << yamlQuote(remark.message) << "\n";
    if (!remark.args.empty()) {
      out << "Args:\n";
      for (const auto& [key, value] : remark.args) {
        out << "  - " << key << ": " << yamlQuote(value) << "\n";
      }
    }
    out << "...\n";
  }
  return out.str();
}

RemarkCollector::RemarkCollector(RemarkFilter filter, std::string inputName, bool textInput, std::ostream& err)
    : filter_(std::move(filter)), inputName_(std::move(inputName)), textInput_(textInput), err_(err) {}

void RemarkCollector::add(Remark remark) {
  if (remark.location && remark.location->file.empty()) {
    // A source without a file name is the IR text the graph was parsed from;
    // an archive's graph has none of those, so its location means nothing.
    if (textInput_) {
      remark.location->file = inputName_;
      remark.location->line += firstLine_ - 1;
    } else {
      remark.location.reset();
    }
  }
  if (filter_.selects(remark)) {
    err_ << remarkLine(remark, inputName_) << "\n";
  }
  remarks_.push_back(std::move(remark));
}

std::string remarksJson(const std::vector<Remark>& remarks) {
  std::ostringstream out;
  JsonWriter json(out);
  json.beginArray();
  for (const Remark& remark : remarks) {
    json.beginObject();
    json.member("kind", remarkKindName(remark.kind));
    json.member("pass", remark.pass);
    json.member("function", remark.function);
    json.member("node", remark.nodeKind);
    json.member("value", remark.value.empty() ? "" : "%" + remark.value);
    json.key("location");
    if (remark.location) {
      json.beginObject();
      json.member("file", remark.location->file);
      json.member("line", static_cast<uint64_t>(remark.location->line));
      json.member("column", static_cast<uint64_t>(remark.location->column));
      json.endObject();
    } else {
      json.null();
    }
    json.member("message", remark.message);
    json.key("args");
    json.beginObject();
    for (const auto& [key, value] : remark.args) {
      json.member(key, value);
    }
    json.endObject();
    json.endObject();
  }
  json.endArray();
  return out.str();
}

} // namespace tsopt
