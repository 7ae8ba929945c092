// Test-only passes, as a plugin: the loader tests open it (built twice: as a
// good plugin, and with TSOPT_TEST_PLUGIN_API_OFFSET set, as one that claims
// another plugin API), and the --bisect tests plant its deliberately wrong pass.
#include "passes/core/plugin.h"

#include <sstream>
#include <stdexcept>

namespace {

class CountNodesPass final : public tsopt::GraphPass {
public:
  bool runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, tsopt::PassContext&) override {
    for (auto* node : graph->nodes()) {
      (void)node;
      ++seen;
    }
    return false;
  }

private:
  tsopt::Statistic seen{this, "seen", "Nodes seen"};
};

/// Deliberately wrong: rewrites every aten::relu into aten::abs, one counted
/// rewrite each. Harmless where the input is never negative, wrong elsewhere,
/// which gives --bisect a first bad rewrite to find.
class MiscompileReluPass final : public tsopt::GraphPass {
public:
  bool runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, tsopt::PassContext& context) override {
    bool changed = false;
    for (auto* node : graph->nodes()) {
      if (node->kind() != c10::Symbol::fromQualString("aten::relu")) {
        continue;
      }
      std::ostringstream what;
      what << "relu -> abs on %" << node->output()->debugName();
      if (!context.shouldRewrite(what.str())) {
        continue;
      }
      torch::jit::WithInsertPoint guard(node);
      auto* abs = graph->insertNode(graph->create(c10::Symbol::fromQualString("aten::abs"), {node->input(0)}));
      abs->output()->setType(node->output()->type());
      node->output()->replaceAllUsesWith(abs->output());
      changed = true;
    }
    return changed;
  }
};

/// Throws on an aten::sigmoid of an aten::add: a crash that needs two nodes, for
/// the reducer's tests to reduce a large graph down to.
class CrashOnSigmoidOfAddPass final : public tsopt::GraphPass {
public:
  bool runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, tsopt::PassContext&) override {
    for (auto* node : graph->nodes()) {
      if (node->kind() == c10::Symbol::fromQualString("aten::sigmoid") &&
          node->input(0)->node()->kind() == c10::Symbol::fromQualString("aten::add")) {
        throw std::runtime_error("cannot handle the sigmoid of an add (%" + node->output()->debugName() + ")");
      }
    }
    return false;
  }
};

/// Makes every aten::tanh its own input: IR the verifier rejects.
class BreakTanhPass final : public tsopt::GraphPass {
public:
  bool runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, tsopt::PassContext&) override {
    bool changed = false;
    for (auto* node : graph->nodes()) {
      if (node->kind() == c10::Symbol::fromQualString("aten::tanh")) {
        node->replaceInput(0, node->output());
        changed = true;
      }
    }
    return changed;
  }
};

void registerTestPasses(tsopt::PassRegistry& registry) {
  registry.registerPass("test-plugin-count", "Counts nodes (test plugin)",
                        [] { return std::make_unique<CountNodesPass>(); }, "tsopt_test_plugin");
  registry.registerPass("test-miscompile-relu", "Rewrites relu into abs: wrong on purpose (test plugin)",
                        [] { return std::make_unique<MiscompileReluPass>(); }, "tsopt_test_plugin");
  registry.registerPass("test-crash-sigmoid-of-add", "Throws on a sigmoid of an add (test plugin)",
                        [] { return std::make_unique<CrashOnSigmoidOfAddPass>(); }, "tsopt_test_plugin");
  registry.registerPass("test-break-tanh", "Leaves invalid IR at every tanh (test plugin)",
                        [] { return std::make_unique<BreakTanhPass>(); }, "tsopt_test_plugin");
}

} // namespace

#ifdef TSOPT_TEST_PLUGIN_API_OFFSET
extern "C" __attribute__((visibility("default"))) tsopt::PassPluginInfo tsoptGetPassPluginInfo() {
  return {tsopt::kPluginApiVersion + TSOPT_TEST_PLUGIN_API_OFFSET, "bad-api", "0", TSOPT_TORCH_VERSION_STRING,
          registerTestPasses};
}
#else
TSOPT_PASS_PLUGIN("test-plugin", "1.0", registerTestPasses)
#endif
