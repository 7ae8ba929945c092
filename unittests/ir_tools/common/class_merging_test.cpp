#include "ir_tools/common/class_merging.h"

#include "ir_tools/common/bytes_read_adapter.h"
#include "ir_tools/common/input_file.h"
#include "passes/core/archive_check.h"

#include <ATen/ATen.h>
#include <caffe2/serialize/inline_container.h>
#include <gtest/gtest.h>
#include <torch/csrc/jit/api/module.h>

#include <algorithm>
#include <sstream>

namespace tsopt {
namespace {

/// A module of class `name` (each call a class of its own, as tracing gives
/// every instance) whose forward returns `body` of x and its weight w.
torch::jit::Module leaf(const std::string& name, const std::string& body, double w) {
  torch::jit::Module module(name);
  module.register_parameter("w", at::full({3}, w), false);
  module.define("def forward(self, x):\n  return " + body + "\n");
  return module;
}

/// A module of class `name` holding `inner` as `g`, whose forward adds one to g's.
torch::jit::Module holder(const std::string& name, const torch::jit::Module& inner) {
  torch::jit::Module module(name);
  module.register_module("g", inner);
  module.define("def forward(self, x):\n  return self.g.forward(x) + 1\n");
  return module;
}

std::string saved(const torch::jit::Module& module) {
  std::ostringstream out;
  module.save(out);
  return out.str();
}

torch::jit::Module chain(const std::vector<std::pair<std::string, torch::jit::Module>>& children) {
  torch::jit::Module net("Net");
  std::string body = "x";
  for (const auto& [name, child] : children) {
    net.register_module(name, child);
    body = "self." + name + ".forward(" + body + ")";
  }
  net.define("def forward(self, x):\n  return " + body + "\n");
  return net;
}

c10::TypePtr typeOf(const torch::jit::Module& module, const std::string& child) {
  return module.attr(child).toModule().type();
}

TEST(ClassMergingTest, IdenticalClassesLoadAsOne) {
  torch::jit::Module net = chain({{"a", leaf("Child", "x * self.w", 2)},
                                  {"b", leaf("Child", "x * self.w", 3)},
                                  {"c", leaf("Child", "x * self.w", 5)},
                                  {"d", leaf("Child", "x + self.w", 7)}});
  const std::string bytes = saved(net);
  std::optional<ClassMerge> merge = mergeIdenticalClasses(bytes);
  ASSERT_TRUE(merge.has_value());
  EXPECT_EQ(merge->moduleClasses, 5u);
  EXPECT_EQ(merge->kept, 3u);  // Net, the three multiplying children, d.
  const std::string mergedBytes = bytes.substr(0, merge->head) + merge->tail;
  EXPECT_FALSE(mergeIdenticalClasses(mergedBytes).has_value()) << "merging twice changes nothing";
  EXPECT_FALSE(archiveProblem(mergedBytes).has_value());

  LoadedInput input = loadInputBytes("t.pt", bytes, false, std::nullopt, {}, ModuleClasses::Merged);
  torch::jit::Module merged = *input.module;
  EXPECT_EQ(typeOf(merged, "a"), typeOf(merged, "b"));
  EXPECT_EQ(typeOf(merged, "a"), typeOf(merged, "c"));
  EXPECT_NE(typeOf(merged, "a"), typeOf(merged, "d"));
  EXPECT_EQ(typeOf(merged, "a")->str(), "__torch__.Child");  // The shortest name is kept.
  const at::Tensor x = at::arange(3, at::kFloat);
  const at::Tensor expected = net.forward({x}).toTensor();
  EXPECT_TRUE(merged.forward({x}).toTensor().equal(expected));
  EXPECT_TRUE(input.freshModule().forward({x}).toTensor().equal(expected));

  LoadedInput asSaved = loadInputBytes("t.pt", bytes, false);
  EXPECT_NE(typeOf(*asSaved.module, "a"), typeOf(*asSaved.module, "b"));
}

TEST(ClassMergingTest, ClassesMentioningDifferentClassesStayApart) {
  // p and q print the same text up to the name of their g's class, but their
  // g's differ: they must not merge (partition refinement). r is p again.
  torch::jit::Module net = chain({{"p", holder("Holder", leaf("Leaf", "x * self.w", 2))},
                                  {"q", holder("Holder", leaf("Leaf", "x - self.w", 3))},
                                  {"r", holder("Holder", leaf("Leaf", "x * self.w", 4))}});
  const std::string bytes = saved(net);
  std::optional<ClassMerge> merge = mergeIdenticalClasses(bytes);
  ASSERT_TRUE(merge.has_value());
  EXPECT_EQ(merge->moduleClasses, 7u);
  EXPECT_EQ(merge->kept, 5u);
  LoadedInput input = loadInputBytes("t.pt", bytes, false, std::nullopt, {}, ModuleClasses::Merged);
  torch::jit::Module merged = *input.module;
  EXPECT_EQ(typeOf(merged, "p"), typeOf(merged, "r"));
  EXPECT_NE(typeOf(merged, "p"), typeOf(merged, "q"));
  const at::Tensor x = at::arange(3, at::kFloat);
  EXPECT_TRUE(merged.forward({x}).toTensor().equal(net.forward({x}).toTensor()));

  // Without r, nothing merges: the archive is left as it is.
  EXPECT_FALSE(mergeIdenticalClasses(saved(chain({{"p", holder("Holder", leaf("Leaf", "x * self.w", 2))},
                                                  {"q", holder("Holder", leaf("Leaf", "x - self.w", 3))}})))
                   .has_value());
}

TEST(ClassMergingTest, DeclinesWhenARecordItCannotRewriteNamesAClass) {
  const std::string bytes =
      saved(chain({{"a", leaf("Child", "x * self.w", 2)}, {"b", leaf("Child", "x * self.w", 3)}}));
  ASSERT_TRUE(mergeIdenticalClasses(bytes).has_value());
  // The same archive with a record naming every class's qualifier, as a lite
  // interpreter's bytecode.pkl names the classes it calls.
  caffe2::serialize::PyTorchStreamReader reader(readerOf(bytes));
  std::string names;
  for (const std::string& record : reader.getAllRecords()) {
    if (record.rfind("code/", 0) == 0 && record.size() > 8 && record.substr(record.size() - 3) == ".py") {
      std::string qualifier = record.substr(5, record.size() - 8);
      std::replace(qualifier.begin(), qualifier.end(), '/', '.');
      names += "'" + qualifier + "' ";
    }
  }
  std::string withBytecode;
  {
    caffe2::serialize::PyTorchStreamWriter writer([&](const void* data, size_t size) {
      withBytecode.append(static_cast<const char*>(data), size);
      return size;
    });
    for (const std::string& record : reader.getAllRecords()) {
      if (record != "version" && record != ".data/version" && record != "byteorder" &&
          record != ".data/serialization_id") {
        auto [data, size] = reader.getRecord(record);
        writer.writeRecord(record, data.get(), size);
      }
    }
    writer.writeRecord("bytecode.pkl", names.data(), names.size());
    writer.writeEndOfFile();
  }
  EXPECT_FALSE(mergeIdenticalClasses(withBytecode).has_value());
}

} // namespace
} // namespace tsopt
