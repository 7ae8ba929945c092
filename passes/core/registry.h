//===- registry.h - The one table of named passes --------------------------===//
///
/// Every pass tsopt can run is registered here under its command-line name.
/// Built-in passes come from pass_registry.def (one line each); other projects
/// add theirs with TSOPT_REGISTER_PASS from a linked library, or from a plugin
/// loaded with --load-pass-plugin (see plugin.h).
///
//===----------------------------------------------------------------------===//
#pragma once

#include "passes/core/pass.h"

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace tsopt {

using PassFactory = std::function<std::unique_ptr<Pass>()>;

struct PassRegistration {
  std::string name;
  std::string summary;
  PassFactory factory;
  std::string origin; ///< "built-in", or the library/plugin that registered it.
};

class PassRegistry {
public:
  /// The process-wide registry, holding the built-in passes.
  static PassRegistry& global();

  /// Registers a pass; throws tsopt::Error for a duplicate or non-kebab-case name.
  void registerPass(const std::string& name, const std::string& summary, PassFactory factory,
                    const std::string& origin = "built-in");

  const PassRegistration* find(const std::string& name) const;
  /// A fresh instance with its name and summary set; throws for an unknown name.
  std::unique_ptr<Pass> create(const std::string& name) const;
  /// Registrations sorted by name.
  std::vector<const PassRegistration*> all() const;
  /// The registered name closest to `name` by edit distance, or "" if none is close.
  std::string nearestName(const std::string& name) const;

private:
  std::map<std::string, PassRegistration> passes_;
};

/// Registers the passes listed in pass_registry.def.
void registerBuiltinPasses(PassRegistry& registry);

/// Whether `name` is a valid pass name: lower-case words joined by '-'.
bool isKebabCase(const std::string& name);

/// Static registration for passes defined outside tsopt:
///   TSOPT_REGISTER_PASS(MyPass, "my-pass", "One-line summary");
template <typename PassT> struct PassRegistrar {
  PassRegistrar(const char* name, const char* summary, const char* origin) {
    PassRegistry::global().registerPass(
        name, summary, [] { return std::make_unique<PassT>(); }, origin);
  }
};

#define TSOPT_REGISTER_PASS(CLASS, NAME, SUMMARY)                             \
  static ::tsopt::PassRegistrar<CLASS> tsoptPassRegistrar_##CLASS(NAME, SUMMARY, __FILE__)

} // namespace tsopt
