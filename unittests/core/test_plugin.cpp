// A pass plugin for the loader tests. Built twice: as a good plugin, and with
// TSOPT_TEST_PLUGIN_API_OFFSET set, as one that claims another plugin API.
#include "passes/core/plugin.h"

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

void registerTestPasses(tsopt::PassRegistry& registry) {
  registry.registerPass("test-plugin-count", "Counts nodes (test plugin)",
                        [] { return std::make_unique<CountNodesPass>(); }, "tsopt_test_plugin");
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
