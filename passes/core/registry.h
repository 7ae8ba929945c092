//===- registry.h - The one table of named passes --------------------------===//
///
/// Every pass and named pipeline tsopt can run is registered here under its
/// command-line name. The registry itself knows no pass: tools register the
/// built-in ones (passes/builtin/builtin_passes.h); other projects add theirs
/// with TSOPT_REGISTER_PASS from a linked library, or from a plugin loaded with
/// --load-pass-plugin (see plugin.h).
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
/// The text of a named pipeline, for an input with a module or for bare IR text
/// (which has no module, so no module pass).
using PipelineBuilder = std::function<std::string(bool hasModule)>;

/// A pass (`factory` set) or a named pipeline (`pipeline` set), such as the -O levels.
struct PassRegistration {
  std::string name;
  std::string summary;
  PassFactory factory;
  PipelineBuilder pipeline;
  std::string origin; ///< "built-in", or the library/plugin that registered it.

  bool isPipeline() const { return static_cast<bool>(pipeline); }
};

class PassRegistry {
public:
  /// The process-wide registry: what tools run, and where TSOPT_REGISTER_PASS
  /// and plugins register. Empty until someone registers passes in it.
  static PassRegistry& global();

  /// Registers a pass; throws tsopt::Error for a duplicate or non-kebab-case name.
  void registerPass(const std::string& name, const std::string& summary, PassFactory factory,
                    const std::string& origin = "built-in");
  /// Registers a named pipeline, which pipeline text expands in place. Its name
  /// is kebab-case, or O<digits> for an optimization level; throws tsopt::Error
  /// for a bad or duplicate name.
  void registerPipeline(const std::string& name, const std::string& summary, PipelineBuilder pipeline,
                        const std::string& origin = "built-in");

  const PassRegistration* find(const std::string& name) const;
  /// A fresh instance with its name and summary set; throws for an unknown name
  /// or the name of a pipeline.
  std::unique_ptr<Pass> create(const std::string& name) const;
  /// Registrations sorted by name.
  std::vector<const PassRegistration*> all() const;
  /// The registered name closest to `name` by edit distance, or "" if none is close.
  std::string nearestName(const std::string& name) const;

private:
  void add(PassRegistration registration);

  std::map<std::string, PassRegistration> passes_;
};

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
