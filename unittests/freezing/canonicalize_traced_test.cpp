#include "ir_tools/common/input_file.h"
#include "passes/core/graph_utils.h"
#include "passes/core/pass_manager.h"
#include "passes/core/pipeline.h"
#include "passes/core/registry.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/csrc/jit/runtime/interpreter.h>

#include <sstream>

namespace tsopt {
namespace {

std::shared_ptr<torch::jit::Graph> runPipeline(const std::shared_ptr<torch::jit::Graph>& graph,
                                               const std::string& pipeline) {
  std::ostringstream log;
  PassManager manager(Instrumentation{}, log);
  manager.addPasses(buildPipeline(pipeline, PassRegistry::global()));
  IRUnit unit = IRUnit::fromGraph(graph->copy());
  manager.run(unit);
  return unit.graph;
}

std::vector<c10::IValue> execute(const std::shared_ptr<torch::jit::Graph>& graph,
                                 const std::vector<c10::IValue>& inputs) {
  torch::jit::Code code(graph->copy(), "test");
  torch::jit::InterpreterState state(code);
  torch::jit::Stack stack(inputs);
  state.run(stack);
  return stack;
}

size_t count(const torch::jit::Graph& graph, const char* kind) {
  return countNodesOfKind(graph, c10::Symbol::fromQualString(kind));
}

/// Runs the original and the rewritten graph on `inputs` and expects the same tensors.
void expectSameOutputs(const std::shared_ptr<torch::jit::Graph>& original,
                       const std::shared_ptr<torch::jit::Graph>& rewritten, const std::vector<c10::IValue>& inputs) {
  std::vector<c10::IValue> expected = execute(original, inputs);
  std::vector<c10::IValue> actual = execute(rewritten, inputs);
  ASSERT_EQ(expected.size(), actual.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    const at::Tensor& e = expected[i].toTensor();
    const at::Tensor& a = actual[i].toTensor();
    EXPECT_EQ(e.sizes(), a.sizes()) << "output " << i;
    EXPECT_TRUE(at::allclose(a, e, 1e-5, 1e-6)) << "output " << i << ": max abs error "
                                                 << (a - e).abs().max().item<double>();
  }
}

// Weights are <Tensor> placeholders: the IR reader fills them with fixed values.
const char* kConvolutions = R"IR(
graph(%x : Tensor, %sequence : Tensor, %volume : Tensor):
  %w2 : Float(6, 2, 3, 3, strides=[18, 9, 3, 1], requires_grad=0, device=cpu) = prim::Constant[value=<Tensor>]()
  %b6 : Float(6, strides=[1], requires_grad=0, device=cpu) = prim::Constant[value=<Tensor>]()
  %wt2 : Float(6, 2, 3, 3, strides=[18, 9, 3, 1], requires_grad=0, device=cpu) = prim::Constant[value=<Tensor>]()
  %b4 : Float(4, strides=[1], requires_grad=0, device=cpu) = prim::Constant[value=<Tensor>]()
  %w1 : Float(6, 4, 3, strides=[12, 3, 1], requires_grad=0, device=cpu) = prim::Constant[value=<Tensor>]()
  %w3 : Float(2, 4, 1, 3, 3, strides=[36, 9, 9, 3, 1], requires_grad=0, device=cpu) = prim::Constant[value=<Tensor>]()
  %none : NoneType = prim::Constant()
  %true : bool = prim::Constant[value=1]()
  %false : bool = prim::Constant[value=0]()
  %one : int = prim::Constant[value=1]()
  %two : int = prim::Constant[value=2]()
  %ones : int[] = prim::Constant[value=[1, 1]]()
  %twos : int[] = prim::Constant[value=[2, 2]]()
  %zeros : int[] = prim::Constant[value=[0, 0]]()
  %one_list : int[] = prim::Constant[value=[1]]()
  %two_list : int[] = prim::Constant[value=[2]]()
  %zero_list : int[] = prim::Constant[value=[0]]()
  %ones3 : int[] = prim::Constant[value=[1, 1, 1]]()
  %pad3 : int[] = prim::Constant[value=[0, 1, 1]]()
  %zeros3 : int[] = prim::Constant[value=[0, 0, 0]]()
  %grouped : Tensor = aten::_convolution(%x, %w2, %b6, %ones, %twos, %twos, %false, %zeros, %two, %false, %false, %true, %true)
  %up : Tensor = aten::_convolution(%grouped, %wt2, %b4, %twos, %ones, %ones, %true, %ones, %two, %false, %false, %true, %true)
  %line : Tensor = aten::_convolution(%sequence, %w1, %b6, %one_list, %one_list, %one_list, %false, %zero_list, %one, %false, %false, %true)
  %line_up : Tensor = aten::_convolution(%line, %w1, %b4, %two_list, %zero_list, %one_list, %true, %one_list, %one, %false, %false, %true, %true)
  %cube : Tensor = aten::convolution(%volume, %w3, %none, %ones3, %pad3, %ones3, %false, %zeros3, %one)
  return (%up, %line_up, %cube)
)IR";

TEST(CanonicalizeTracedTest, ConvolutionsComputeTheSame) {
  auto graph = parseGraphText(kConvolutions, "convolutions.ir");
  auto rewritten = runPipeline(graph, "canonicalize-traced");
  EXPECT_EQ(count(*rewritten, "aten::_convolution") + count(*rewritten, "aten::convolution"), 0u);
  EXPECT_EQ(count(*rewritten, "aten::conv2d"), 1u);
  EXPECT_EQ(count(*rewritten, "aten::conv_transpose2d"), 1u);
  EXPECT_EQ(count(*rewritten, "aten::conv1d"), 1u);
  EXPECT_EQ(count(*rewritten, "aten::conv_transpose1d"), 1u);
  EXPECT_EQ(count(*rewritten, "aten::conv3d"), 1u);
  at::manual_seed(0);
  expectSameOutputs(graph, rewritten, {at::randn({2, 4, 9, 9}), at::randn({2, 4, 7}), at::randn({2, 4, 3, 5, 5})});
}

// The linear layers as freezing leaves traced ones: W^T folded into a constant.
const char* kLinears = R"IR(
graph(%x3 : Tensor, %x2 : Tensor, %x1 : Tensor):
  %WT : Float(6, 5, strides=[1, 6], requires_grad=0, device=cpu) = prim::Constant[value=<Tensor>]()
  %W : Float(5, 6, strides=[6, 1], requires_grad=0, device=cpu) = prim::Constant[value=<Tensor>]()
  %b : Float(5, strides=[1], requires_grad=0, device=cpu) = prim::Constant[value=<Tensor>]()
  %one : int = prim::Constant[value=1]()
  %m : Tensor = aten::matmul(%x3, %WT)
  %batched : Tensor = aten::add(%m, %b, %one)
  %flat : Tensor = aten::addmm(%b, %x2, %WT, %one, %one)
  %m2 : Tensor = aten::matmul(%x2, %WT)
  %in_place : Tensor = aten::add_(%m2, %b, %one)
  %m3 : Tensor = aten::matmul(%x3, %WT)
  %left : Tensor = aten::add(%b, %m3, %one)
  %single : Tensor = aten::matmul(%x1, %WT)
  %Wt : Tensor = aten::t(%W)
  %unfolded : Tensor = aten::matmul(%x2, %Wt)
  return (%batched, %flat, %in_place, %left, %single, %unfolded)
)IR";

TEST(CanonicalizeTracedTest, LinearFormsComputeTheSame) {
  auto graph = parseGraphText(kLinears, "linears.ir");
  auto rewritten = runPipeline(graph, "canonicalize-traced");
  EXPECT_EQ(count(*rewritten, "aten::linear"), 6u);
  EXPECT_EQ(count(*rewritten, "aten::matmul") + count(*rewritten, "aten::addmm"), 0u);
  EXPECT_EQ(count(*rewritten, "aten::add") + count(*rewritten, "aten::add_"), 0u);
  at::manual_seed(1);
  expectSameOutputs(graph, rewritten, {at::randn({2, 3, 6}), at::randn({4, 6}), at::randn({6})});
}

// A traced flatten through shape arithmetic, around no-ops.
const char* kStaticShapes = R"IR(
graph(%x : Float(2, 3, 4, strides=[12, 4, 1], requires_grad=0, device=cpu)):
  %zero : int = prim::Constant[value=0]()
  %one : int = prim::Constant[value=1]()
  %two : int = prim::Constant[value=2]()
  %float : int = prim::Constant[value=6]()
  %false : bool = prim::Constant[value=0]()
  %none : NoneType = prim::Constant()
  %p : float = prim::Constant[value=0.5]()
  %c : Tensor = aten::contiguous(%x, %zero)
  %d : Tensor = aten::detach(%c)
  %f : Tensor = aten::to(%d, %float, %false, %false, %none)
  %b : int = aten::size(%f, %zero)
  %h : int = aten::size(%x, %one)
  %h_t : Tensor = prim::NumToTensor(%h)
  %w : int = aten::size(%x, %two)
  %w_t : Tensor = prim::NumToTensor(%w)
  %hw_t : Tensor = aten::mul(%h_t, %w_t)
  %hw : int = aten::Int(%hw_t)
  %shape : int[] = prim::ListConstruct(%b, %hw)
  %flat : Tensor = aten::view(%f, %shape)
  %y : Tensor = aten::dropout(%flat, %p, %false)
  return (%y)
)IR";

TEST(CanonicalizeTracedTest, NoOpsAndStaticShapesComputeTheSame) {
  auto graph = parseGraphText(kStaticShapes, "shapes.ir");
  auto dynamic = runPipeline(graph, "canonicalize-traced");
  EXPECT_EQ(count(*dynamic, "aten::size"), 3u);
  EXPECT_EQ(count(*dynamic, "aten::contiguous"), 1u);
  auto rewritten = runPipeline(graph, "canonicalize-traced{assume-static-shapes=true}");
  for (const char* kind : {"aten::size", "prim::NumToTensor", "aten::Int", "aten::mul", "prim::ListConstruct",
                           "aten::contiguous", "aten::detach", "aten::to", "aten::dropout"}) {
    EXPECT_EQ(count(*rewritten, kind), 0u) << kind;
  }
  at::manual_seed(2);
  expectSameOutputs(graph, rewritten, {at::randn({2, 3, 4})});
  expectSameOutputs(graph, dynamic, {at::randn({5, 3, 4})});
}

} // namespace
} // namespace tsopt
