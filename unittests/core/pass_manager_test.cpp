#include "passes/core/error.h"
#include "passes/core/pass_manager.h"

#include <ATen/ATen.h>
#include <torch/csrc/jit/ir/irparser.h>

#include <gtest/gtest.h>

#include <sstream>

namespace tsopt {
namespace {

std::shared_ptr<torch::jit::Graph> parse(const std::string& text) {
  auto graph = std::make_shared<torch::jit::Graph>();
  torch::jit::parseIR(text, graph.get());
  return graph;
}

const char* kReluGraph = R"IR(
graph(%x : Tensor):
  %y : Tensor = aten::relu(%x)
  return (%y)
)IR";

/// Replaces relu by its input: changes the graph the first time only.
class DropReluPass final : public GraphPass {
public:
  bool runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) override {
    context.debug() << "looking\n";
    for (auto it = graph->nodes().begin(); it != graph->nodes().end(); ++it) {
      if (it->kind() == c10::Symbol::fromQualString("aten::relu")) {
        it->output()->replaceAllUsesWith(it->input(0));
        it.destroyCurrent();
        ++dropped;
        return true;
      }
    }
    return false;
  }
  Statistic dropped{this, "dropped", "Relus dropped"};
};

/// Touches and keeps 64 MiB: the resident memory grows by that much while it runs.
class AllocatingPass final : public GraphPass {
public:
  bool runOnGraph(std::shared_ptr<torch::jit::Graph>&, PassContext&) override {
    kept.assign(64 << 20, 1);
    return false;
  }
  std::vector<char> kept;
};

/// Appends a node naming an operator that does not exist.
class BreakGraphPass final : public GraphPass {
public:
  bool runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext&) override {
    graph->insertNode(graph->create(c10::Symbol::fromQualString("aten::frobnicate"), {graph->inputs()[0]}));
    return true;
  }
};

class ThrowingPass final : public GraphPass {
public:
  bool runOnGraph(std::shared_ptr<torch::jit::Graph>&, PassContext&) override {
    throw std::runtime_error("boom\nbacktrace line");
  }
};

/// Returns a brand-new graph that returns its input, as passes like canonicalize
/// hand back new graphs.
class ReplaceGraphPass final : public GraphPass {
public:
  bool runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext&) override {
    auto fresh = graph->copy();
    fresh->eraseOutput(0);
    fresh->registerOutput(fresh->inputs()[1]);
    graph = fresh;
    return true;
  }
};

class NoOpModulePass final : public ModulePass {
public:
  bool runOnModule(torch::jit::Module&, PassContext&) override { return false; }
};

template <typename PassT> std::unique_ptr<Pass> make(const std::string& name) {
  auto pass = std::make_unique<PassT>();
  pass->setIdentity(name, "test pass");
  return pass;
}

TEST(PassManagerTest, PrintAfterChangePrintsOnlyChangingPasses) {
  std::ostringstream log;
  Instrumentation instrumentation;
  instrumentation.printAfterChange = true;
  PassManager manager(instrumentation, log);
  manager.addPass(make<DropReluPass>("first"));
  manager.addPass(make<DropReluPass>("second"));
  IRUnit unit = IRUnit::fromGraph(parse(kReluGraph));
  EXPECT_TRUE(manager.run(unit));
  EXPECT_NE(log.str().find("# *** IR Dump After first (changed) ***"), std::string::npos) << log.str();
  EXPECT_EQ(log.str().find("second"), std::string::npos) << log.str();
}

TEST(PassManagerTest, PrintBeforeAndAfterNamedPasses) {
  std::ostringstream log;
  Instrumentation instrumentation;
  instrumentation.printBefore = {"second"};
  instrumentation.printAfter = {"all"};
  PassManager manager(instrumentation, log);
  manager.addPass(make<DropReluPass>("first"));
  manager.addPass(make<DropReluPass>("second"));
  IRUnit unit = IRUnit::fromGraph(parse(kReluGraph));
  manager.run(unit);
  std::string text = log.str();
  size_t afterFirst = text.find("# *** IR Dump After first (changed) ***");
  size_t beforeSecond = text.find("# *** IR Dump Before second ***");
  size_t afterSecond = text.find("# *** IR Dump After second (unchanged) ***");
  ASSERT_NE(afterFirst, std::string::npos) << text;
  ASSERT_NE(beforeSecond, std::string::npos) << text;
  ASSERT_NE(afterSecond, std::string::npos) << text;
  EXPECT_LT(afterFirst, beforeSecond);
  EXPECT_LT(beforeSecond, afterSecond);
  EXPECT_EQ(text.find("Dump Before first"), std::string::npos);
}

TEST(PassManagerTest, VerifyEachNamesTheBreakingPassAndPrintsIRBefore) {
  std::ostringstream log;
  Instrumentation instrumentation;
  instrumentation.verifyEach = true;
  PassManager manager(instrumentation, log);
  manager.addPass(make<DropReluPass>("drop-relu"));
  manager.addPass(make<BreakGraphPass>("break-graph"));
  IRUnit unit = IRUnit::fromGraph(parse(kReluGraph));
  try {
    manager.run(unit);
    FAIL() << "verifier did not fire";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::PassFailure);
    EXPECT_EQ(std::string(error.what()), "verifier failed after pass 'break-graph': unknown operator 'aten::frobnicate'");
  }
  std::string text = log.str();
  EXPECT_NE(text.find("# *** IR Dump Before break-graph (failed verification) ***"), std::string::npos) << text;
  EXPECT_EQ(text.find("frobnicate"), std::string::npos) << "the dump must show the IR before the pass";
}

TEST(PassManagerTest, WithoutVerifyEachABrokenGraphPassesThrough) {
  std::ostringstream log;
  PassManager manager(Instrumentation{}, log);
  manager.addPass(make<BreakGraphPass>("break-graph"));
  IRUnit unit = IRUnit::fromGraph(parse(kReluGraph));
  EXPECT_NO_THROW(manager.run(unit));
}

TEST(PassManagerTest, ThrowingPassBecomesOneLinePassFailure) {
  std::ostringstream log;
  PassManager manager(Instrumentation{}, log);
  manager.addPass(make<ThrowingPass>("explode"));
  IRUnit unit = IRUnit::fromGraph(parse(kReluGraph));
  try {
    manager.run(unit);
    FAIL();
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::PassFailure);
    EXPECT_EQ(std::string(error.what()), "pass 'explode' failed: boom");
  }
}

TEST(PassManagerTest, ModulePassOnBareGraphIsAUsageError) {
  std::ostringstream log;
  PassManager manager(Instrumentation{}, log);
  manager.addPass(make<NoOpModulePass>("needs-module"));
  IRUnit unit = IRUnit::fromGraph(parse(kReluGraph));
  try {
    manager.run(unit);
    FAIL();
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::Usage);
    EXPECT_NE(std::string(error.what()).find("needs a module"), std::string::npos);
  }
}

TEST(PassManagerTest, ReplacedGraphIsWrittenBackIntoTheModule) {
  torch::jit::Module module("M");
  module.define("def forward(self, x):\n  return x + 1\n");
  std::ostringstream log;
  PassManager manager(Instrumentation{}, log);
  manager.addPass(make<ReplaceGraphPass>("replace"));
  IRUnit unit = IRUnit::fromModule(module, "forward");
  manager.run(unit);
  EXPECT_EQ(unit.graph, module.get_method("forward").graph()) << "the method keeps its graph object";
  at::Tensor input = at::ones({2});
  at::Tensor output = unit.module->forward({input}).toTensor();
  EXPECT_TRUE(output.equal(input)) << "the module runs the replacement graph";
}

TEST(PassManagerTest, MissingMethodIsAnInputError) {
  torch::jit::Module module("M");
  module.define("def forward(self, x):\n  return x\n");
  try {
    IRUnit::fromModule(module, "encode");
    FAIL();
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::Input);
    EXPECT_EQ(std::string(error.what()), "module has no method 'encode' (methods: forward)");
  }
}

TEST(PassManagerTest, TimingAndStatisticsReports) {
  std::ostringstream log;
  Instrumentation instrumentation;
  instrumentation.debugOnly = {"second"};
  PassManager manager(instrumentation, log);
  manager.addPass(make<DropReluPass>("first"));
  manager.addPass(make<DropReluPass>("second"));
  IRUnit unit = IRUnit::fromGraph(parse(kReluGraph));
  manager.run(unit);
  EXPECT_EQ(log.str(), "second: looking\n") << "debug output only for the selected pass";

  std::ostringstream timing;
  manager.printTimingReport(timing);
  EXPECT_NE(timing.str().find("Pass execution timing report"), std::string::npos);
  EXPECT_NE(timing.str().find("first\n"), std::string::npos);
  EXPECT_NE(timing.str().find("second\n"), std::string::npos);
  EXPECT_NE(timing.str().find("(100.0%)  Total"), std::string::npos);

  std::ostringstream statistics;
  manager.printStatistics(statistics);
  EXPECT_NE(statistics.str().find("       1 first - Relus dropped"), std::string::npos) << statistics.str();
  EXPECT_EQ(statistics.str().find("second -"), std::string::npos) << "zero counters are not printed";
}

TEST(PassManagerTest, TrackMemoryReportsResidentGrowthAndPeak) {
  if (!processMemory().resident) {
    GTEST_SKIP() << "this system does not report resident memory (/proc/self/status)";
  }
  std::ostringstream log;
  Instrumentation instrumentation;
  instrumentation.timePasses = true;
  instrumentation.trackMemory = true;
  PassManager manager(instrumentation, log);
  manager.addPass(make<DropReluPass>("first"));
  manager.addPass(make<AllocatingPass>("allocating"));
  IRUnit unit = IRUnit::fromGraph(parse(kReluGraph));
  manager.run(unit);

  std::ostringstream timing;
  manager.printTimingReport(timing);
  const std::string report = timing.str();
  EXPECT_NE(report.find("Resident memory before the first pass: "), std::string::npos) << report;
  EXPECT_NE(report.find("---Wall Time---  ---Resident---  ----Peak----  --- Name ---"), std::string::npos) << report;
  // The allocating pass's row: its growth is at least the 64 MiB it kept, and
  // the peak after it at least the resident memory it left.
  std::istringstream rows(report);
  std::string row;
  bool found = false;
  while (std::getline(rows, row)) {
    if (row.size() < 12 || row.compare(row.size() - 12, 12, "  allocating") != 0) {
      continue;
    }
    found = true;
    double growth = 0, peak = 0;
    std::string mib1, mib2;
    std::istringstream fields(row.substr(row.find(')') + 1));
    ASSERT_TRUE(fields >> growth >> mib1 >> peak >> mib2) << row;
    EXPECT_GE(growth, 60.0) << row;
    EXPECT_GE(peak, growth) << row;
    EXPECT_EQ(mib1, "MiB");
  }
  EXPECT_TRUE(found) << report;
  EXPECT_NE(report.find("Peak resident memory of the process so far: "), std::string::npos) << report;

  std::ostringstream withoutTracking;
  PassManager plain(Instrumentation{}, log);
  plain.addPass(make<AllocatingPass>("allocating"));
  IRUnit other = IRUnit::fromGraph(parse(kReluGraph));
  plain.run(other);
  plain.printTimingReport(withoutTracking);
  EXPECT_EQ(withoutTracking.str().find("Resident"), std::string::npos) << "memory columns only with trackMemory";
}

} // namespace
} // namespace tsopt
