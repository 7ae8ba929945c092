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
#include <functional>
#include <optional>
#include <set>
#include <string>
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

/// freeze_module's clean-up (torch::jit::runOptimization) with tsopt's
/// linear CSE and constant pooling in place of torch's quadratic ones.
void cleanUpFrozenGraph(std::shared_ptr<Graph> graph) {
  torch::jit::EliminateDeadCode(graph);
  eliminateCommonSubexpressions(graph);
  torch::jit::PeepholeOptimize(graph);
  torch::jit::ConstantPropagation(graph);
  bool changed = false;
  torch::jit::AliasDb aliasDb(graph);
  poolConstants(*graph, aliasDb, changed);
  eliminateCommonSubexpressions(graph);
  torch::jit::EliminateDeadCode(graph);
}

/// What the methods of a module tree change: attribute names some method
/// assigns (SetAttr), and the storages of tensor attributes some method writes
/// in place. A partial freeze folds neither: by name across all classes, since
/// an interface call may reach any module of the tree, and by storage, since
/// two attributes may hold one tensor.
struct ChangedAttributes {
  std::set<std::string> assigned;
  std::set<const void*> writtenStorages;

  bool covers(const std::string& name, const c10::IValue& value) const {
    return assigned.count(name) != 0 ||
           (value.isTensor() && value.toTensor().defined() &&
            writtenStorages.count(value.toTensor().storage().unsafeGetStorageImpl()) != 0);
  }
};

ChangedAttributes changedAttributes(const torch::jit::Module& module) {
  ChangedAttributes changed;
  AttributeIndex attributes;
  for (const torch::jit::Module& submodule : module.modules()) {
    for (const torch::jit::Method& method : submodule.get_methods()) {
      std::shared_ptr<Graph> graph = torch::jit::toGraphFunction(method.function()).graph()->copy();
      torch::jit::Inline(*graph);
      // Frozen mode: each module attribute read is its own value, so a write
      // through one does not taint every other.
      torch::jit::AliasDb aliasDb(graph, /*isFrozen=*/true);
      for (Node* node : collectNodes(*graph)) {
        if (node->kind() == c10::prim::SetAttr) {
          changed.assigned.insert(node->s(c10::attr::name));
        } else if (node->kind() == c10::prim::GetAttr && isTensor(node->output()) && aliasDb.hasOutputWriters(node)) {
          auto attribute = resolveAttribute(submodule, node, *graph, attributes);
          if (!attribute || !attribute->first.isTensor() || !attribute->first.toTensor().defined()) {
            changed.assigned.insert(node->s(c10::attr::name));  // Unresolved: refuse the name.
          } else {
            changed.writtenStorages.insert(attribute->first.toTensor().storage().unsafeGetStorageImpl());
          }
        }
      }
    }
  }
  return changed;
}

/// torch's refusal without its assertion boilerplate.
std::string refusalText(const std::string& message) {
  const std::string boilerplate = "please report a bug to PyTorch. ";
  size_t at = message.find(boilerplate);
  return firstLine(at == std::string::npos ? message : message.substr(at + boilerplate.size()));
}

/// Whether a GetAttr may read a parameter (preserve-parameters keeps those):
/// a parameter slot, or one the types cannot tell.
bool mayReadParameter(const Node* getAttr) {
  auto owner = getAttr->input()->type()->cast<c10::ClassType>();
  auto slot = owner ? owner->findAttributeSlot(getAttr->s(c10::attr::name)) : c10::nullopt;
  return !slot || owner->is_parameter(*slot);
}

/// A tensor as freeze_module folds a parameter: detached, without requires_grad.
at::Tensor asFrozenConstant(const at::Tensor& tensor) {
  return tensor.requires_grad() ? tensor.detach().set_requires_grad(false) : tensor;
}

/// Values a partial freeze may fold besides tensors: immutable scalars.
bool isFoldableScalar(const c10::IValue& value) {
  return value.isInt() || value.isDouble() || value.isBool() || value.isString() || value.isNone();
}

using AttributeRead = std::pair<c10::IValue, std::string>;

/// Replaces each read of a tensor or scalar attribute in `graph` (inlined, its
/// `self` being `root`) that `mayFold` accepts by a constant, a tensor detached,
/// named as freeze_module names it (`%self.layer1.0.conv1.weight`). Returns how
/// many reads it replaced; the module GetAttrs left dead are the caller's.
size_t foldAttributeReads(const torch::jit::Module& root, Graph& graph, AttributeIndex& attributes,
                          const std::function<bool(Node*, const AttributeRead&)>& mayFold) {
  size_t folded = 0;
  // One constant per attribute, at the top of the graph, where it dominates
  // every read (pooling would hoist it there anyway), in the order first read.
  // Each is created at the end of the graph, and all are moved up together at
  // the end (moveBeforeInOrder: one at a time would be quadratic): an insert
  // point at the top would be the first node, often the read about to be
  // destroyed (a traced nn.Linear begins by reading its bias, then its weight).
  std::unordered_map<std::string, torch::jit::Value*> constants;
  std::vector<Node*> created;
  torch::jit::WithInsertPoint atEnd(graph.return_node());
  for (Node* node : collectNodes(graph, {c10::prim::GetAttr})) {
    auto attribute = resolveAttribute(root, node, graph, attributes);
    if (!attribute) {
      continue;
    }
    const c10::IValue& value = attribute->first;
    bool tensor = value.isTensor() && value.toTensor().defined();
    if ((!tensor && !isFoldableScalar(value)) || !mayFold(node, *attribute)) {
      continue;
    }
    auto [entry, inserted] = constants.try_emplace(attribute->second, nullptr);
    if (inserted) {
      entry->second = graph.insertConstant(tensor ? c10::IValue(asFrozenConstant(value.toTensor())) : value);
      entry->second->setDebugName("self." + attribute->second);
      created.push_back(entry->second->node());
    }
    node->output()->replaceAllUsesWith(entry->second);
    node->destroy();
    ++folded;
  }
  if (!created.empty()) {
    // Every node but the constants precedes the first one created.
    Node* first = graph.block()->nodes().front();
    if (first != created.front()) {
      moveBeforeInOrder(created, first);
    }
  }
  return folded;
}

/// Whether each preserved name ("attr", "method" or "sub.attr") names an
/// attribute or method of the module.
bool namesExist(const torch::jit::Module& module, const std::vector<std::string>& names) {
  return std::all_of(names.begin(), names.end(), [&](const std::string& name) {
    torch::jit::Module owner = module;
    std::string rest = name;
    for (size_t dot = rest.find('.'); dot != std::string::npos; dot = rest.find('.')) {
      std::string child = rest.substr(0, dot);
      if (!owner.hasattr(child) || !owner.attr(child).isModule()) {
        return false;
      }
      owner = owner.attr(child).toModule();
      rest = rest.substr(dot + 1);
    }
    return owner.hasattr(rest) || owner.find_method(rest).has_value();
  });
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
    if (preserveParameters.value() && mayReadParameter(node)) {
      continue;
    }
    at::Tensor tensor = attribute->first.toTensor();
    auto [entry, inserted] = indexOf.emplace(tensor.unsafeGetTensorImpl(), static_cast<int64_t>(hidden.size()));
    if (inserted) {
      hidden.push_back({asFrozenConstant(tensor), "self." + attribute->second});
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
  // while the tensors were hidden.
  cleanUpFrozenGraph(graph);
}

void FreezePass::freezePartially(torch::jit::Module& module, const std::vector<std::string>& preserved,
                                 PassContext& context, const std::string& refusal) {
  torch::jit::Module partial = module.clone(/*inplace=*/true);
  std::shared_ptr<Graph> graph =
      torch::jit::toGraphFunction(partial.get_method(context.methodName()).function()).graph();
  torch::jit::Inline(*graph);
  const ChangedAttributes changing = changedAttributes(partial);
  AttributeIndex attributes;
  foldedAttributes += foldAttributeReads(partial, *graph, attributes, [&](Node* node, const AttributeRead& attribute) {
    return !isPreserved(attribute.second, preserved) && !changing.covers(node->s(c10::attr::name), attribute.first) &&
           !(preserveParameters.value() && mayReadParameter(node));
  });
  cleanUpFrozenGraph(graph);
  // One warning per attribute the graph still reads from the module.
  std::set<std::string> kept;
  for (Node* node : collectNodes(*graph, {c10::prim::GetAttr})) {
    bool leaf = std::any_of(node->output()->uses().begin(), node->output()->uses().end(),
                            [](const torch::jit::Use& use) { return use.user->kind() != c10::prim::GetAttr; });
    auto attribute = leaf ? resolveAttribute(partial, node, *graph, attributes) : std::nullopt;
    std::string name = attribute ? attribute->second : node->s(c10::attr::name);
    if (leaf && !isPreserved(name, preserved) && kept.insert(name).second) {
      ++keptAttributes;
      std::string why = attribute && changing.covers(node->s(c10::attr::name), attribute->first)
                            ? "a method assigns it or writes it in place"
                            : "a module reached through an interface or a container";
      TORCH_WARN("freeze: kept attribute '", name, "' on the module: ", why, " (freeze_module refused the module: ",
                 refusal, ")");
    }
  }
  module = partial;
}

bool FreezePass::freezeTree(torch::jit::Module& module, const std::vector<std::string>& preserved,
                            PassContext& context) {
  const c10::ClassTypePtr& type = module.type();
  if (!preserved.empty() || preserveParameters.value() || context.methodName() != "forward" ||
      !type->getForwardHooks().empty() || !type->getForwardPreHooks().empty()) {
    return false;
  }
  const torch::jit::Method method = module.get_method("forward");
  std::shared_ptr<Graph> graph = method.graph()->copy();
  torch::jit::Inline(*graph);
  // hideTensorAttributes, next, says why not.
  std::string whyNot;
  if (!canHideTensorAttributes(graph, whyNot)) {
    return false;
  }
  AttributeIndex attributes;
  foldAttributeReads(module, *graph, attributes, [](Node*, const AttributeRead&) { return true; });
  // The clean-up starts with dead code elimination, which takes the module
  // GetAttrs left without uses; a graph that still reads the module after it
  // (an object or list attribute) goes to freeze_module.
  cleanUpFrozenGraph(graph);
  if (graph->inputs()[0]->hasUses()) {
    context.debug() << "the method still reads the module (" << describeNode(graph->inputs()[0]->uses()[0].user)
                    << "): left to torch::jit::freeze_module\n";
    return false;
  }
  keepArgumentTypes(*method.graph(), *graph);
  // What freeze_module leaves of a tree whose attributes are all folded: a
  // module of a new type with this one method and no attribute, `training`
  // included.
  torch::jit::Module frozen(*type->name(), module._ivalue()->compilation_unit(), /*shouldMangle=*/true);
  graph->inputs()[0]->setType(frozen.type());
  torch::jit::Function* function = frozen._ivalue()->compilation_unit()->create_function(
      c10::QualifiedName(*frozen.type()->name(), "forward"), graph);
  // The method keeps its schema (argument names, default values, keyword-only
  // arguments) with the new type as `self`: a schema made from the graph has
  // no defaults, and a scripted nn.ConvTranspose2d called as m(x) would then
  // miss `output_size`.
  const c10::FunctionSchema& schema = method.function().getSchema();
  std::vector<c10::Argument> arguments = schema.arguments();
  arguments[0] = arguments[0].cloneWithType(frozen.type());
  function->setSchema(schema.cloneWithArguments(std::move(arguments)));
  frozen.type()->addMethod(function);
  context.debug() << "froze the module tree without torch::jit::freeze_module\n";
  module = frozen;
  return true;
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
  if (freezeTree(module, preserved, context)) {
    foldedAttributes += attributeReads;
    return true;
  }
  // freeze_module's clone: the module's own tensors, new types and method graphs.
  torch::jit::Module frozen = module.clone(/*inplace=*/true);
  std::vector<HiddenTensor> hidden = hideTensorAttributes(frozen, preserved, context);
  try {
    torch::jit::freeze_module_inplace(&frozen, preserved, freezeInterfaces.value(), preserveParameters.value());
  } catch (const c10::Error& error) {
    // A name in preserved-attrs that does not exist is the user's mistake,
    // not the module's: freeze_module's error stands.
    if (strict.value() || !namesExist(module, preserved)) {
      throw;
    }
    const std::string refusal = refusalText(error.what_without_backtrace());
    context.debug() << "torch::jit::freeze_module refused the module (" << refusal
                    << "): freezing what nothing can change\n";
    freezePartially(module, preserved, context, refusal);
    return true;
  }
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
