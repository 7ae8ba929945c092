#include "passes/core/input_sets.h"

#include "passes/core/archive_check.h"
#include "passes/core/error.h"

#include <torch/csrc/jit/serialization/pickle.h>

#include <fstream>
#include <iterator>

namespace tsopt {
namespace {

/// The type a TorchScript signature gives `value`: Tensor for every tensor
/// (so that tensors of different shapes share a list type).
c10::TypePtr signatureType(const c10::IValue& value) {
  if (value.isTensor()) {
    return c10::TensorType::get();
  }
  if (value.isTuple()) {
    std::vector<c10::TypePtr> types;
    for (const c10::IValue& element : value.toTupleRef().elements()) {
      types.push_back(signatureType(element));
    }
    return c10::TupleType::create(std::move(types));
  }
  return value.type();
}

/// The one type `values` share (unifyTypes over their signature types), or
/// null when they have none or there are no values.
c10::TypePtr commonType(const std::vector<c10::IValue>& values) {
  c10::TypePtr common;
  for (const c10::IValue& value : values) {
    c10::TypePtr type = signatureType(value);
    if (!common) {
      common = type;
    } else if (auto unified = c10::unifyTypes(common, type)) {
      common = *unified;
    } else {
      return nullptr;
    }
  }
  return common;
}

/// `value` with each list and dict inside it typed by its elements. The
/// unpickler makes every list a List[Any] and every dict a Dict[Any, Any] (the
/// file holds no types), which a method taking a List[Tensor] refuses: a
/// Python list of tensors becomes a List[Tensor]. An empty list, or one whose
/// elements share no type, keeps its type.
c10::IValue withElementTypes(const c10::IValue& value) {
  if (value.isTuple()) {
    std::vector<c10::IValue> elements;
    for (const c10::IValue& element : value.toTupleRef().elements()) {
      elements.push_back(withElementTypes(element));
    }
    return c10::ivalue::Tuple::create(std::move(elements));
  }
  if (value.isList()) {
    std::vector<c10::IValue> elements;
    for (const c10::IValue& element : value.toListRef()) {
      elements.push_back(withElementTypes(element));
    }
    c10::TypePtr common = commonType(elements);
    c10::impl::GenericList list(common ? common : value.toList().elementType());
    for (c10::IValue& element : elements) {
      list.push_back(std::move(element));
    }
    return list;
  }
  if (value.isGenericDict()) {
    std::vector<c10::IValue> keys;
    std::vector<c10::IValue> values;
    for (const auto& entry : value.toGenericDict()) {
      keys.push_back(entry.key());
      values.push_back(withElementTypes(entry.value()));
    }
    c10::TypePtr keyType = commonType(keys);
    c10::TypePtr valueType = commonType(values);
    c10::impl::GenericDict dict(keyType ? keyType : value.toGenericDict().keyType(),
                                valueType ? valueType : value.toGenericDict().valueType());
    for (size_t index = 0; index < keys.size(); ++index) {
      dict.insert(keys[index], std::move(values[index]));
    }
    return dict;
  }
  return value;
}

} // namespace

InputSets loadInputSets(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    throw Error(ErrorKind::Input, path + ": cannot open inputs file");
  }
  return parseInputSets(path, std::vector<char>(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()));
}

InputSets parseInputSets(const std::string& path, const std::vector<char>& bytes) {
  // LibTorch's zip reader and unpickler follow the file's offsets and lengths
  // unchecked, and it trusts each tensor to fit its storage record
  // (docs/robustness.md): check them before it sees the bytes.
  auto refuse = [&path](const std::string& reason) {
    if (reason.find("Unknown opcode for unpickling at 0x61") != std::string::npos) {
      // LibTorch 1.13's unpickler lacks APPEND, which Python uses for one-element lists.
      return Error(ErrorKind::Input, path + ": LibTorch cannot read a one-element list; save a tuple instead: "
                                            "torch.save(tuple(inputs), path)");
    }
    return Error(ErrorKind::Input, path + ": not a file written by torch.save: " + reason);
  };
  const std::string_view file(bytes.data(), bytes.size());
  std::optional<std::string> problem = archiveProblem(file);
  if (!problem) {
    problem = tensorStorageProblem(file, {"data"});  // unpickles with LibTorch's unpickler too
  }
  if (problem) {
    throw refuse(*problem);
  }
  c10::IValue loaded;
  try {
    loaded = torch::jit::pickle_load(bytes);
  } catch (const std::exception& error) {
    throw refuse(firstLine(error.what()));
  }
  auto elements = [](const c10::IValue& value) {
    return value.isTuple() ? value.toTupleRef().elements().vec() : value.toListRef().vec();
  };
  if (!loaded.isTuple() && !loaded.isList()) {
    throw Error(ErrorKind::Input, path + ": expected a list of input tuples, found a " + loaded.tagKind());
  }
  std::vector<c10::IValue> outer = elements(loaded);
  bool singleCall = !outer.empty() && !outer.front().isTuple() && !outer.front().isList();
  InputSets sets;
  if (singleCall) {
    sets.push_back(outer);
  } else {
    for (const c10::IValue& call : outer) {
      if (!call.isTuple() && !call.isList()) {
        throw Error(ErrorKind::Input, path + ": expected every element to be an input tuple, found a " + call.tagKind());
      }
      sets.push_back(elements(call));
    }
  }
  if (sets.empty()) {
    throw Error(ErrorKind::Input, path + ": no input tuples");
  }
  for (std::vector<c10::IValue>& set : sets) {
    for (c10::IValue& argument : set) {
      argument = withElementTypes(argument);
    }
  }
  return sets;
}

c10::IValue toDevice(const c10::IValue& value, c10::Device device) {
  if (value.isTensor()) {
    return value.toTensor().to(device);
  }
  if (value.isTuple()) {
    std::vector<c10::IValue> elements;
    for (const c10::IValue& element : value.toTupleRef().elements()) {
      elements.push_back(toDevice(element, device));
    }
    return c10::ivalue::Tuple::create(std::move(elements));
  }
  if (value.isList()) {
    c10::impl::GenericList list(value.toList().elementType());
    for (const c10::IValue& element : value.toListRef()) {
      list.push_back(toDevice(element, device));
    }
    return list;
  }
  if (value.isGenericDict()) {
    c10::impl::GenericDict dict(value.toGenericDict().keyType(), value.toGenericDict().valueType());
    for (const auto& entry : value.toGenericDict()) {
      dict.insert(entry.key(), toDevice(entry.value(), device));
    }
    return dict;
  }
  return value;
}

InputSets toDevice(const InputSets& sets, c10::Device device) {
  InputSets moved;
  for (const std::vector<c10::IValue>& set : sets) {
    std::vector<c10::IValue> arguments;
    for (const c10::IValue& argument : set) {
      arguments.push_back(toDevice(argument, device));
    }
    moved.push_back(std::move(arguments));
  }
  return moved;
}

torch::jit::Stack runOnCopies(torch::jit::Function& function, const c10::IValue& self,
                              const std::vector<c10::IValue>& arguments) {
  torch::jit::Stack stack{self};
  for (const c10::IValue& argument : arguments) {
    stack.push_back(argument.isTensor() ? c10::IValue(argument.toTensor().clone()) : argument.deepcopy());
  }
  function.run(stack);
  return stack;
}

} // namespace tsopt
