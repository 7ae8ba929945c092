#include "ir_tools/common/command_line.h"

#include "passes/core/compat.h"

#include <torch/csrc/api/include/torch/version.h>

#include <map>
#include <ostream>
#include <set>
#include <sstream>

namespace tsopt {
namespace {

/// The flags by name, sorted: the nearest-flag search breaks ties alphabetically.
using FlagIndex = std::map<std::string, const Flag*>;

FlagIndex indexFlags(const FlagTable& table) {
  FlagIndex index;
  for (const FlagSection& section : table) {
    for (const Flag& flag : section.flags) {
      if (!flag.name.empty()) {
        index.emplace(flag.name, &flag);
      }
    }
  }
  return index;
}

/// The flag sharing the longest prefix (at least 4 characters) with `given`,
/// or "" when none does.
std::string nearestFlag(const FlagIndex& flags, const std::string& given) {
  std::string best;
  size_t bestScore = 0;
  for (const auto& entry : flags) {
    const std::string& name = entry.first;
    size_t common = 0;
    while (common < name.size() && common < given.size() && name[common] == given[common]) {
      ++common;
    }
    if (common > bestScore && common >= 4) {
      bestScore = common;
      best = name;
    }
  }
  return best;
}

constexpr size_t kHelpIndent = 2;
constexpr size_t kHelpColumn = 28;

} // namespace

void parseFlags(const std::vector<std::string>& args, const FlagTable& table,
                const std::function<void(const std::string& arg)>& positional,
                const std::function<bool(const std::string& arg)>& special) {
  const FlagIndex flags = indexFlags(table);
  for (size_t index = 0; index < args.size(); ++index) {
    const std::string& arg = args[index];
    if (arg == "-" || arg.empty() || arg[0] != '-') {
      positional(arg);
      continue;
    }
    if (special && special(arg)) {
      continue;
    }
    size_t equals = arg.find('=');
    std::string name = arg.substr(0, equals);
    auto found = flags.find(name);
    if (found == flags.end()) {
      std::string message = "unknown option '" + name + "'";
      std::string nearest = nearestFlag(flags, name);
      if (!nearest.empty()) {
        message += "; did you mean '" + nearest + "'?";
      }
      throw Error(ErrorKind::Usage, message + " (see --help)");
    }
    const Flag& flag = *found->second;
    std::optional<std::string> value;
    if (equals != std::string::npos) {
      if (flag.value == FlagValue::None) {
        throw Error(ErrorKind::Usage, "option '" + name + "' takes no value");
      }
      value = arg.substr(equals + 1);
    } else if (flag.value == FlagValue::Required) {
      if (index + 1 >= args.size()) {
        throw Error(ErrorKind::Usage, "option '" + name + "' needs a value");
      }
      value = args[++index];
    }
    if (value && value->empty()) {
      throw Error(ErrorKind::Usage, "option '" + name + "' needs a non-empty value");
    }
    flag.apply(value);
  }
}

std::string flagHelp(const FlagTable& table) {
  const std::string indent(kHelpIndent, ' ');
  std::ostringstream text;
  for (const FlagSection& section : table) {
    std::ostringstream rows;
    for (const Flag& flag : section.flags) {
      if (flag.help.empty()) {
        continue;
      }
      std::string usage = indent + (flag.usage.empty() ? flag.name : flag.usage);
      // Two spaces at least between the columns, else the help starts below.
      usage += usage.size() + 2 <= kHelpColumn ? std::string(kHelpColumn - usage.size(), ' ')
                                               : "\n" + std::string(kHelpColumn, ' ');
      std::istringstream lines(flag.help);
      std::string line;
      for (bool first = true; std::getline(lines, line); first = false) {
        rows << (first ? usage : std::string(kHelpColumn, ' ')) << line << "\n";
      }
    }
    if (rows.tellp() <= 0) {
      continue;
    }
    text << section.title << ":\n" << rows.str();
    if (!section.note.empty()) {
      text << indent << section.note << "\n";
    }
    text << "\n";
  }
  return text.str();
}

std::string versionLine(const std::string& tool) {
  return tool + " " + TSOPT_VERSION + " (LibTorch " + TORCH_VERSION + ")\n";
}

int runReportingErrors(const std::string& tool, std::ostream& err, const std::function<int()>& body,
                       ErrorKind internalErrorKind) {
  // LibTorch's warnings become the tool's, once each. Its deprecation notices
  // (TorchScript since 2.11, quantized tensors) concern APIs tsopt calls, not
  // anything its user wrote or can change: they are dropped.
  std::set<std::string> warned;
  compat::ScopedWarningHandler warnings([&](const std::string& message) {
    const std::string line = firstLine(message);
    if (message.find("deprecated") == std::string::npos && warned.insert(line).second) {
      err << tool << ": warning: " << line << "\n";
    }
  });
  try {
    return body();
  } catch (const Error& error) {
    err << tool << ": error: " << error.what() << "\n";
    return exitCodeFor(error.kind());
  } catch (const std::exception& error) {
    err << tool << ": error: internal error: " << firstLine(error.what()) << "\n";
    return exitCodeFor(internalErrorKind);
  }
}

} // namespace tsopt
