//===- pass.h - The tsopt pass interface -----------------------------------===//
///
/// A pass rewrites one TorchScript graph (GraphPass) or a whole module
/// (ModulePass, e.g. freezing). It declares typed options and named statistics as
/// members, the way MLIR passes do, so the registry can list them and the
/// pipeline parser can set them:
///
///   class MyPass final : public tsopt::GraphPass {
///     Option<bool> aggressive{this, "aggressive", "Also fold X", false};
///     Statistic folded{this, "folded", "Nodes folded"};
///     bool runOnGraph(std::shared_ptr<torch::jit::Graph>& g, PassContext& ctx) override;
///   };
///
/// A pass returns whether it changed the IR; the pass manager relies on that for
/// --print-ir-after-change, so a pass must never report "unchanged" after a rewrite.
///
//===----------------------------------------------------------------------===//
#pragma once

#include "passes/core/remarks.h"

#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/ir/ir.h>

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tsopt {

class Pass;
class PassContext;

enum class PassKind { Graph, Module };

//===----------------------------------------------------------------------===//
// Options
//===----------------------------------------------------------------------===//

/// Untyped view of one pass option, as the registry and pipeline parser see it.
class OptionBase {
public:
  OptionBase(Pass* owner, std::string name, std::string description);
  virtual ~OptionBase() = default;
  OptionBase(const OptionBase&) = delete;
  OptionBase& operator=(const OptionBase&) = delete;

  const std::string& name() const { return name_; }
  const std::string& description() const { return description_; }
  /// Parses `text` into the option; on failure returns false and sets `error`.
  virtual bool parse(const std::string& text, std::string& error) = 0;
  virtual std::string typeName() const = 0;
  virtual std::string valueText() const = 0;

private:
  std::string name_;
  std::string description_;
};

// Parsers for the supported option types; each returns false on a bad value.
bool parseOptionValue(const std::string& text, bool& out, std::string& error);
bool parseOptionValue(const std::string& text, int64_t& out, std::string& error);
bool parseOptionValue(const std::string& text, double& out, std::string& error);
bool parseOptionValue(const std::string& text, std::string& out, std::string& error);
bool parseOptionValue(const std::string& text, std::vector<std::string>& out, std::string& error);
std::string optionTypeName(const bool*);
std::string optionTypeName(const int64_t*);
std::string optionTypeName(const double*);
std::string optionTypeName(const std::string*);
std::string optionTypeName(const std::vector<std::string>*);
std::string optionValueText(const bool& value);
std::string optionValueText(const int64_t& value);
std::string optionValueText(const double& value);
std::string optionValueText(const std::string& value);
std::string optionValueText(const std::vector<std::string>& value);

/// A typed pass option with a default: bool, int64_t, double, std::string, or a
/// comma-separated std::vector<std::string>.
template <typename T> class Option final : public OptionBase {
public:
  Option(Pass* owner, std::string name, std::string description, T defaultValue)
      : OptionBase(owner, std::move(name), std::move(description)),
        value_(std::move(defaultValue)) {}

  const T& value() const { return value_; }
  operator const T&() const { return value_; }
  Option& operator=(T value) {
    value_ = std::move(value);
    return *this;
  }

  bool parse(const std::string& text, std::string& error) override {
    T parsed{};
    if (!parseOptionValue(text, parsed, error)) {
      return false;
    }
    value_ = std::move(parsed);
    return true;
  }
  std::string typeName() const override { return optionTypeName(&value_); }
  std::string valueText() const override { return optionValueText(value_); }

private:
  T value_;
};

//===----------------------------------------------------------------------===//
// Statistics
//===----------------------------------------------------------------------===//

/// A named counter a pass bumps as it works (`--stats` prints them).
class Statistic {
public:
  Statistic(Pass* owner, std::string name, std::string description);
  Statistic(const Statistic&) = delete;
  Statistic& operator=(const Statistic&) = delete;

  const std::string& name() const { return name_; }
  const std::string& description() const { return description_; }
  uint64_t value() const { return value_; }
  Statistic& operator++() {
    ++value_;
    return *this;
  }
  Statistic& operator+=(uint64_t amount) {
    value_ += amount;
    return *this;
  }

private:
  std::string name_;
  std::string description_;
  uint64_t value_ = 0;
};

//===----------------------------------------------------------------------===//
// Passes
//===----------------------------------------------------------------------===//

/// Caps how many rewrites one pass may make, like LLVM's -opt-bisect-limit:
/// --bisect searches for the first rewrite that breaks equivalence. Rewrites
/// past the limit are skipped, the rest of the pass runs as usual.
struct RewriteBudget {
  std::optional<size_t> limit;  ///< No cap when empty.
  size_t used = 0;              ///< Rewrites asked for so far (allowed or not).
  std::string lastAllowed;      ///< Description of the last rewrite let through.
};

/// What a pass may need besides the IR it rewrites: the method being optimized,
/// a debug stream that `--debug-only=<pass>` turns on, the rewrite budget, and
/// where its remarks go.
class PassContext {
public:
  PassContext(std::string passName, std::string methodName, bool hasModule, std::ostream* debugStream,
              RewriteBudget* budget = nullptr, RemarkHandler remarkHandler = nullptr);

  /// Passes that make discrete rewrites call this before each one, describing
  /// it ("fold %7 = aten::batch_norm into %5"), and skip the rewrite when it
  /// returns false. This is what lets --bisect name the first bad rewrite.
  /// An allowed rewrite is a passed remark with `description` as its message,
  /// about `node` (the anchor of the rewrite) when given; `absorbed` lists the
  /// nodes a fusion folds into one kernel (the coverage report counts them).
  bool shouldRewrite(const std::string& description, const torch::jit::Node* node = nullptr,
                     const std::vector<torch::jit::Node*>& absorbed = {});

  /// A missed remark about `node`: "kept <kind>: " and what is streamed in,
  /// which says why the pass left the node alone. It is also the debug line
  /// "kept %y = <kind>: ..." of --debug-only.
  RemarkBuilder missed(const torch::jit::Node* node);
  /// A missed remark written verbatim, for reasons that are not about one node
  /// ("graph left alone: ...") or read better in their own words; `node` (may
  /// be null) is the node that decided it.
  RemarkBuilder missedText(const torch::jit::Node* node = nullptr);
  /// A fact the pass found about `node` (may be null), written verbatim.
  RemarkBuilder analysis(const torch::jit::Node* node = nullptr);

  const std::string& methodName() const { return methodName_; }
  /// Whether the graph is a module method's (false for bare IR text): a graph
  /// pass that would change a method's signature must refuse module graphs.
  bool hasModule() const { return hasModule_; }
  bool debugEnabled() const { return debugStream_ != nullptr; }
  /// Whether remarks are collected or debugging is on: a pass may skip work
  /// that only feeds remarks when this is false.
  bool remarksEnabled() const { return remarkHandler_ != nullptr || debugEnabled(); }
  /// Stream for developer chatter, one message per call (it starts with the
  /// pass name); discards text unless debugging is on for the running pass.
  /// A reason for a skipped rewrite is a missed remark, not debug text.
  std::ostream& debug();

private:
  friend class RemarkBuilder;
  void emit(Remark& remark, const std::string& debugLine);
  /// The function remarks name: the method, none for a bare graph.
  std::string remarkFunction() const { return hasModule_ ? methodName_ : ""; }
  RemarkBuilder build(RemarkKind kind, const torch::jit::Node* node, std::string messagePrefix,
                      std::string debugPrefix);

  std::string passName_;
  std::string methodName_;
  bool hasModule_;
  std::ostream* debugStream_;
  RewriteBudget* budget_;
  RemarkHandler remarkHandler_;
};

class Pass {
public:
  virtual ~Pass() = default;
  Pass(const Pass&) = delete;
  Pass& operator=(const Pass&) = delete;

  virtual PassKind kind() const = 0;

  /// Name and summary are those the pass was registered under.
  const std::string& name() const { return name_; }
  const std::string& summary() const { return summary_; }
  void setIdentity(std::string name, std::string summary) {
    name_ = std::move(name);
    summary_ = std::move(summary);
  }

  /// Whether the pass may change what the program computes beyond rounding
  /// (quantization, lower precision). `--list-passes` marks such passes, and
  /// `--check-equivalence` then reports accuracy instead of failing on tolerances.
  virtual bool changesNumerics() const { return false; }

  const std::vector<OptionBase*>& options() const { return options_; }
  OptionBase* findOption(const std::string& name) const;
  const std::vector<Statistic*>& statistics() const { return statistics_; }

protected:
  Pass() = default;

private:
  friend class OptionBase;
  friend class Statistic;
  std::string name_;
  std::string summary_;
  std::vector<OptionBase*> options_;
  std::vector<Statistic*> statistics_;
};

/// A pass over one graph: the graph of the method being optimized, or the graph
/// of a textual IR input. A pass may replace `graph` with a new graph; the pass
/// manager writes it back into the module.
class GraphPass : public Pass {
public:
  PassKind kind() const final { return PassKind::Graph; }
  virtual bool runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) = 0;
};

/// A pass over a whole module (it needs attributes, submodules or other methods).
/// It may replace `module` (freezing returns a new one). Module passes cannot run
/// on textual IR inputs, which have no module.
class ModulePass : public Pass {
public:
  PassKind kind() const final { return PassKind::Module; }
  virtual bool runOnModule(torch::jit::Module& module, PassContext& context) = 0;
};

} // namespace tsopt
