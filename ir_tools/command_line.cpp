#include "ir_tools/command_line.h"

#include "passes/core/compat.h"

#include <ostream>
#include <set>

namespace tsopt {
namespace {

/// The flag sharing the longest prefix (at least 4 characters) with `given`,
/// or "" when none does.
std::string nearestFlag(const FlagTable& flags, const std::string& given) {
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

} // namespace

void parseFlags(const std::vector<std::string>& args, const FlagTable& flags,
                const std::function<void(const std::string& arg)>& positional,
                const std::function<bool(const std::string& arg)>& special) {
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
    auto flag = flags.find(name);
    if (flag == flags.end()) {
      std::string message = "unknown option '" + name + "'";
      std::string nearest = nearestFlag(flags, name);
      if (!nearest.empty()) {
        message += "; did you mean '" + nearest + "'?";
      }
      throw Error(ErrorKind::Usage, message + " (see --help)");
    }
    std::optional<std::string> value;
    if (equals != std::string::npos) {
      if (flag->second.value == FlagValue::None) {
        throw Error(ErrorKind::Usage, "option '" + name + "' takes no value");
      }
      value = arg.substr(equals + 1);
    } else if (flag->second.value == FlagValue::Required) {
      if (index + 1 >= args.size()) {
        throw Error(ErrorKind::Usage, "option '" + name + "' needs a value");
      }
      value = args[++index];
    }
    if (value && value->empty()) {
      throw Error(ErrorKind::Usage, "option '" + name + "' needs a non-empty value");
    }
    flag->second.apply(value);
  }
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
