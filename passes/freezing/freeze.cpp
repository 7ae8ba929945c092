#include "passes/freezing/freeze.h"

#include "passes/core/error.h"
#include "passes/core/graph_utils.h"
#include "passes/core/node_hashing.h"

#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/ir/alias_analysis.h>
#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/passes/constant_propagation.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include <torch/csrc/jit/passes/freeze_module.h>
#include <torch/csrc/jit/passes/inliner.h>
#include <torch/csrc/jit/passes/peephole.h>
#include <torch/library.h>

#include <algorithm>
#include <optional>
#include <unordered_map>

namespace tsopt {
namespace {

using torch::jit::Graph;
using torch::jit::Node;

// Stands for a tensor attribute while torch::jit::freeze_module runs. Its
// first input is the method's `self`, never a constant, so freezing's constant
// propagation cannot evaluate it, and its CSE and constant pooling (which
// compare every pair of same-typed tensor constants) see no tensor constant.
// It is pure (FROM_SCHEMA): alias analysis gives it a fresh output, as for a
// constant. It never reaches a saved module.
TORCH_LIBRARY(tsopt_internal, m) {
  m.def(torch::schema("tsopt_internal::hidden_tensor(Any self, int index) -> Tensor",
                      c10::AliasAnalysisKind::FROM_SCHEMA),
        [](const c10::IValue&, int64_t index) -> at::Tensor {
          TORCH_CHECK(false, "tsopt_internal::hidden_tensor(", index, ") ran: freeze left a placeholder behind");
        });
}

const c10::Symbol kHiddenTensor = c10::Symbol::fromQualString("tsopt_internal::hidden_tensor");

/// Whether freeze may take the tensor attributes of `graph` out before
/// freeze_module runs: only where torch would fold every one of them, so a
/// graph that sets attributes, writes a tensor attribute in place, or reaches
/// modules through interfaces, forks or containers is left to torch alone.
bool canHideTensorAttributes(const std::shared_ptr<Graph>& graph, std::string& whyNot) {
  torch::jit::AliasDb aliasDb(graph, /*isFrozen=*/true);
  for (Node* node : collectNodes(*graph)) {
    switch (node->kind()) {
    case c10::prim::SetAttr:
    case c10::prim::fork:
    case c10::prim::ModuleContainerIndex:
    case c10::prim::CallMethod:
      whyNot = "the method has " + describeNode(node);
      return false;
    case c10::prim::GetAttr:
      if (node->input()->type()->cast<c10::InterfaceType>() || node->output()->type()->cast<c10::InterfaceType>()) {
        whyNot = "the method reads an interface attribute";
        return false;
      }
      if (isTensor(node->output()) && aliasDb.hasOutputWriters(node)) {
        whyNot = "tensor attribute '" + node->s(c10::attr::name) + "' is written in place";
        return false;
      }
      break;
    default:
      break;
    }
  }
  return true;
}

/// The attributes of the module objects a method reaches, by name: a
/// ClassType finds a name by a linear search, so a Sequential of n blocks would
/// make resolving every attribute read quadratic.
class AttributeIndex {
public:
  const c10::IValue* find(const c10::IValue& object, const std::string& name) {
    const auto& object_ = object.toObjectRef();
    auto [entry, inserted] = attributes_.try_emplace(&object_);
    if (inserted) {
      const auto& type = *object_.type();
      for (size_t slot = 0; slot < type.numAttributes(); ++slot) {
        entry->second.emplace(type.getAttributeName(slot), object_.getSlot(slot));
      }
    }
    auto attribute = entry->second.find(name);
    return attribute == entry->second.end() ? nullptr : &attribute->second;
  }

private:
  std::unordered_map<const c10::ivalue::Object*, std::unordered_map<std::string, c10::IValue>> attributes_;
};

/// The attribute a GetAttr reads, following its chain of GetAttrs up to the
/// method's `self`, with its qualified name ("layer1.0.conv1.weight").
std::optional<std::pair<c10::IValue, std::string>> resolveAttribute(const torch::jit::Module& root, Node* getAttr,
                                                                     const Graph& graph, AttributeIndex& index) {
  std::vector<std::string> path{getAttr->s(c10::attr::name)};
  torch::jit::Value* object = getAttr->input();
  while (object != graph.inputs()[0]) {
    if (object->node()->kind() != c10::prim::GetAttr) {
      return std::nullopt;
    }
    path.push_back(object->node()->s(c10::attr::name));
    object = object->node()->input();
  }
  std::reverse(path.begin(), path.end());
  c10::IValue module = root._ivalue();
  std::string qualified;
  for (size_t i = 0; i + 1 < path.size(); ++i) {
    const c10::IValue* child = index.find(module, path[i]);
    if (child == nullptr || !child->isModule()) {
      return std::nullopt;
    }
    module = *child;
    qualified += path[i] + ".";
  }
  const c10::IValue* attribute = index.find(module, path.back());
  if (attribute == nullptr) {
    return std::nullopt;
  }
  return std::make_pair(*attribute, qualified + path.back());
}

bool isPreserved(const std::string& qualifiedName, const std::vector<std::string>& preserved) {
  return std::any_of(preserved.begin(), preserved.end(), [&](const std::string& name) {
    return qualifiedName == name || qualifiedName.rfind(name + ".", 0) == 0;
  });
}

/// freeze_module's graphs start from the method's declared argument types;
/// types recorded on the arguments since (--example-inputs) carry over.
void keepArgumentTypes(const torch::jit::Graph& original, torch::jit::Graph& frozen) {
  if (original.inputs().size() != frozen.inputs().size()) {
    return;
  }
  for (size_t index = 1; index < frozen.inputs().size(); ++index) {
    const c10::TypePtr& recorded = original.inputs()[index]->type();
    if (recorded->isSubtypeOf(*frozen.inputs()[index]->type())) {
      frozen.inputs()[index]->setType(recorded);
    }
  }
}

} // namespace

std::vector<FreezePass::HiddenTensor> FreezePass::hideTensorAttributes(torch::jit::Module& module,
                                                         const std::vector<std::string>& preserved,
                                                         PassContext& context) {
  auto graph = torch::jit::toGraphFunction(module.get_method(context.methodName()).function()).graph();
  torch::jit::Inline(*graph);
  std::string whyNot;
  if (!canHideTensorAttributes(graph, whyNot)) {
    context.debug() << "every attribute left to torch::jit::freeze_module: " << whyNot << "\n";
    return {};
  }
  std::vector<HiddenTensor> hidden;
  AttributeIndex attributes;
  std::unordered_map<const c10::TensorImpl*, int64_t> indexOf;
  for (Node* node : collectNodes(*graph, {c10::prim::GetAttr})) {
    if (!isTensor(node->output())) {
      continue;
    }
    auto attribute = resolveAttribute(module, node, *graph, attributes);
    if (!attribute || !attribute->first.isTensor() || !attribute->first.toTensor().defined() ||
        isPreserved(attribute->second, preserved)) {
      continue;
    }
    if (preserveParameters.value()) {
      auto owner = node->input()->type()->cast<c10::ClassType>();
      if (!owner) {
        continue;
      }
      auto slot = owner->findAttributeSlot(node->s(c10::attr::name));
      if (!slot || owner->is_parameter(*slot)) {
        continue;
      }
    }
    at::Tensor tensor = attribute->first.toTensor();
    auto [entry, inserted] = indexOf.emplace(tensor.unsafeGetTensorImpl(), static_cast<int64_t>(hidden.size()));
    if (inserted) {
      // As freeze_module folds a parameter: detached, without requires_grad.
      hidden.push_back({tensor.requires_grad() ? tensor.detach().set_requires_grad(false) : tensor,
                        "self." + attribute->second});
    }
    torch::jit::WithInsertPoint insertPoint(node);
    Node* placeholder = graph->create(kHiddenTensor, {graph->inputs()[0], graph->insertConstant(entry->second)});
    graph->insertNode(placeholder);
    placeholder->output()->copyMetadata(node->output());
    node->output()->replaceAllUsesWith(placeholder->output());
    node->destroy();
  }
  return hidden;
}

void FreezePass::restoreHiddenTensors(const std::shared_ptr<Graph>& graph, const std::vector<HiddenTensor>& hidden) {
  for (Node* node : collectNodes(*graph, {kHiddenTensor})) {
    int64_t index = torch::jit::constant_as<int64_t>(node->input(1)).value();
    torch::jit::WithInsertPoint insertPoint(node);
    torch::jit::Value* constant = graph->insertConstant(hidden.at(static_cast<size_t>(index)).tensor);
    constant->setDebugName(hidden.at(static_cast<size_t>(index)).name);
    node->output()->replaceAllUsesWith(constant);
    node->destroy();
  }
  // What freeze_module's own clean-up (torch::jit::runOptimization) did not do
  // while the tensors were hidden: the same passes, with tsopt's linear CSE and
  // constant pooling in place of torch's.
  std::shared_ptr<Graph> owned = graph;
  torch::jit::EliminateDeadCode(owned);
  eliminateCommonSubexpressions(owned);
  torch::jit::PeepholeOptimize(owned);
  torch::jit::ConstantPropagation(owned);
  bool changed = false;
  torch::jit::AliasDb aliasDb(owned);
  poolConstants(*owned, aliasDb, changed);
  eliminateCommonSubexpressions(owned);
  torch::jit::EliminateDeadCode(owned);
}

bool FreezePass::runOnModule(torch::jit::Module& module, PassContext& context) {
  // Module::is_training() is true when the `training` attribute is missing, as it
  // is on a module frozen before; only a module that says it trains is refused.
  if (module.hasattr("training") && module.attr("training").toBool()) {
    throw Error(ErrorKind::PassFailure,
                "freeze: the module is in training mode; call .eval() before saving it");
  }
  auto method = module.find_method(context.methodName());
  size_t attributeReads = method ? countNodesOfKind(*method->graph(), c10::prim::GetAttr) +
                                       countNodesOfKind(*method->graph(), c10::prim::CallMethod)
                                 : 0;
  if (attributeReads == 0) {
    context.debug() << "method '" << context.methodName() << "' reads no attribute; nothing to freeze\n";
    return false;
  }
  std::vector<std::string> preserved = preservedAttrs.value();
  if (context.methodName() != "forward" &&
      std::find(preserved.begin(), preserved.end(), context.methodName()) == preserved.end()) {
    preserved.push_back(context.methodName());
  }
  // freeze_module's clone: the module's own tensors, new types and method graphs.
  torch::jit::Module frozen = module.clone(/*inplace=*/true);
  std::vector<HiddenTensor> hidden = hideTensorAttributes(frozen, preserved, context);
  torch::jit::freeze_module_inplace(&frozen, preserved, freezeInterfaces.value(), preserveParameters.value());
  auto frozenMethod = frozen.find_method(context.methodName());
  if (frozenMethod && !hidden.empty()) {
    restoreHiddenTensors(frozenMethod->graph(), hidden);
  }
  if (frozenMethod) {
    keepArgumentTypes(*method->graph(), *frozenMethod->graph());
  }
  module = frozen;
  size_t remaining = frozenMethod ? countNodesOfKind(*frozenMethod->graph(), c10::prim::GetAttr) : 0;
  foldedAttributes += attributeReads > remaining ? attributeReads - remaining : 0;
  return true;
}

} // namespace tsopt
