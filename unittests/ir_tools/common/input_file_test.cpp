#include "ir_tools/common/input_file.h"
#include "ir_tools/tool_testing.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <limits>

namespace tsopt {
namespace {

std::string inputError(const std::string& text, const std::string& path = "t.ir") {
  return testing_tools::errorMessage(ErrorKind::Input, [&] { parseGraphText(text, path); });
}

TEST(InputFileTest, ParsesCommentedIR) {
  auto graph = parseGraphText("# leading comment\ngraph(%x : Tensor):\n  # inner\n  %y : Tensor = aten::relu(%x)\n"
                              "  return (%y)\n",
                              "t.ir");
  EXPECT_EQ(graph->inputs().size(), 1u);
}

TEST(InputFileTest, OneElementTensorConstantsKeepTheirPrintedValue) {
  auto graph = parseGraphText("graph(%x : Tensor):\n"
                              "  %c : Long(requires_grad=0, device=cpu) = prim::Constant[value={8}]()\n"
                              "  %h : Float(requires_grad=0, device=cpu) = prim::Constant[value={-0.125}]()\n"
                              "  %y : Tensor = aten::div(%x, %c)\n"
                              "  %z : Tensor = aten::mul(%y, %h)\n"
                              "  return (%z)\n",
                              "t.ir");
  std::vector<double> values;
  for (torch::jit::Node* node : graph->nodes()) {
    if (node->kind() == c10::prim::Constant) {
      values.push_back(node->t(c10::attr::value).item<double>());
    }
  }
  EXPECT_EQ(values, (std::vector<double>{8.0, -0.125}));
}

TEST(InputFileTest, NonFiniteFloatConstantsReadAsPrinted) {
  auto graph = parseGraphText("graph(%x : Tensor):\n"
                              "  %a : float = prim::Constant[value=-inf]()\n"
                              "  %b : float = prim::Constant[value=inf]() # a comment\n"
                              "  %c : float = prim::Constant[value=nan]()\n"
                              "  %d : float = prim::Constant[value=2.5]()\n"
                              "  %y : Tensor = aten::clamp(%x, %a, %b)\n"
                              "  %z : Tensor = aten::add(%y, %c, %d)\n"
                              "  return (%z)\n",
                              "t.ir");
  std::vector<double> values;
  for (torch::jit::Node* node : graph->nodes()) {
    if (node->kind() == c10::prim::Constant) {
      values.push_back(node->f(c10::attr::value));
    }
  }
  ASSERT_EQ(values.size(), 4u);
  EXPECT_EQ(values[0], -std::numeric_limits<double>::infinity());
  EXPECT_EQ(values[1], std::numeric_limits<double>::infinity());
  EXPECT_TRUE(std::isnan(values[2]));
  EXPECT_EQ(values[3], 2.5);
}

TEST(InputFileTest, UseBeforeDefinitionNamesLineAndColumn) {
  EXPECT_EQ(inputError("graph(%x : Tensor):\n"
                       "  %y : Tensor = aten::relu(%z)\n"
                       "  %z : Tensor = aten::relu(%x)\n"
                       "  return (%y)\n"),
            "t.ir:2:28: Cannot find a variable with name 'z'");
}

TEST(InputFileTest, SyntaxErrorNamesLineAfterIdenticalEarlierLines) {
  // The same text appears twice; the error is on the second copy.
  EXPECT_EQ(inputError("graph(%x : Tensor):\n"
                       "  %a : Tensor = aten::relu(%x)\n"
                       "  %b : Tensor = aten::relu(%a)\n"
                       "  %c : Tensor = aten::relu(%b\n"
                       "  return (%c)\n"),
            "t.ir:5:3: expected ) but found 'return' here");
}

TEST(InputFileTest, UnknownOperatorNamesTheRightOccurrence) {
  EXPECT_EQ(inputError("graph(%x : Tensor):\n"
                       "  %y : Tensor = aten::relu(%x)\n"
                       "  %z : Tensor = aten::frobnicate(%y)\n"
                       "  return (%z)\n"),
            "t.ir:3:17: unknown operator 'aten::frobnicate'");
  EXPECT_EQ(inputError("graph(%x : Tensor, %s : str):\n"
                       "  %y : Tensor = aten::relu(%x)\n"
                       "  %z : Tensor = aten::relu(%s)\n"
                       "  return (%z)\n"),
            "t.ir:3:17: no overload of 'aten::relu' accepts (str)");
}

TEST(InputFileTest, FirstLineOffsetsLocations) {
  try {
    parseGraphText("graph(%x : Tensor):\n  %y : Tensor = aten::nope(%x)\n  return (%y)\n", "t.ir", 10);
    FAIL();
  } catch (const Error& error) {
    EXPECT_EQ(std::string(error.what()), "t.ir:11:17: unknown operator 'aten::nope'");
  }
}

class LoadInputTest : public ::testing::Test {
protected:
  std::string write(const std::string& name, const std::string& bytes) {
    std::string path = ::testing::TempDir() + name;
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }
  std::string loadError(const std::string& path, bool split = false) {
    try {
      loadInput(path, split);
    } catch (const Error& error) {
      return error.what();
    }
    ADD_FAILURE() << path << " loaded";
    return "";
  }
};

TEST_F(LoadInputTest, BadFiles) {
  std::string empty = write("empty.ir", "");
  EXPECT_EQ(loadError(empty), empty + ": empty input");
  std::string comments = write("comments.ir", "# nothing\n\n");
  EXPECT_EQ(loadError(comments), comments + ": no graph in input (only blank lines and comments)");
  std::string notZip = write("fake.pt", "graph(%x : Tensor):\n  return (%x)\n");
  EXPECT_EQ(loadError(notZip), notZip + ": not a TorchScript archive (no zip signature)");
  std::string truncated = write("truncated.pt", std::string("PK\x03\x04", 4) + std::string(100, 'x'));
  EXPECT_EQ(loadError(truncated).rfind(truncated + ": cannot load TorchScript archive: ", 0), 0u);
  EXPECT_EQ(loadError("/nonexistent/x.ir"), "/nonexistent/x.ir: cannot open file");
  std::string binary = write("binary.ir", std::string("\x01\x00\x02", 3));
  EXPECT_EQ(loadError(binary), binary + ": binary data is neither a TorchScript archive nor IR text");
}

TEST_F(LoadInputTest, SplitInputFileKeepsFileLineNumbers) {
  std::string path = write("split.ir",
                           "graph(%a : Tensor):\n  return (%a)\n"
                           "# -----\n"
                           "graph(%b : Tensor):\n  %c : Tensor = aten::bogus(%b)\n  return (%c)\n");
  EXPECT_EQ(loadError(path, true), path + ":5:17: unknown operator 'aten::bogus'");
  std::string good = write("split_good.ir", "graph(%a : Tensor):\n  return (%a)\n# -----\n# only a comment\n"
                                            "# -----\ngraph(%b : Tensor):\n  return (%b)\n");
  LoadedInput input = loadInput(good, true);
  ASSERT_EQ(input.cases.size(), 2u);
  EXPECT_EQ(input.cases[1].firstLine, 6u);
}

// InputLimits, through loadInputBytes (what the fuzz targets call): each
// limit rejects the input one past it and accepts the one at it.
std::string limitError(const std::string& text, const InputLimits& limits) {
  return testing_tools::errorMessage(ErrorKind::Input, [&] { loadInputBytes("t.ir", text, false, {}, limits); });
}

TEST(InputLimitsTest, MaxBytes) {
  const std::string text = "graph(%x : Tensor):\n  return (%x)\n";
  InputLimits limits;
  limits.maxBytes = text.size() - 1;
  EXPECT_EQ(limitError(text, limits),
            "t.ir: input is larger than " + std::to_string(text.size() - 1) + " bytes (raise the limit with --max-input-size)");
  limits.maxBytes = text.size();
  EXPECT_EQ(loadInputBytes("t.ir", text, false, {}, limits).cases.size(), 1u);
}

/// An archive read from a file is not held in memory (a model's weights would
/// be there twice for the whole run): a fresh copy reads the file again, and
/// fails with one line if the file changed since. Bytes handed over in memory
/// stay held.
TEST(InputFileTest, ArchivesFromFilesAreReadAgainForFreshCopies) {
  torch::jit::Module module("m");
  module.register_parameter("w", at::ones({3}), false);
  module.define("def forward(self, x):\n  return x + self.w\n");
  const std::string path = ::testing::TempDir() + "fresh_copy.pt";
  module.save(path);
  LoadedInput input = loadInput(path, false);
  ASSERT_TRUE(input.module.has_value());
  EXPECT_TRUE(input.archiveBytes.empty());
  ASSERT_TRUE(input.archiveFile.has_value());
  torch::jit::Module fresh = input.freshModule();
  EXPECT_TRUE(fresh.forward({at::zeros({3})}).toTensor().equal(at::ones({3})));
  torch::jit::Module other("m");
  other.register_parameter("w", at::ones({30}), false);
  other.define("def forward(self, x):\n  return x - self.w\n");
  other.save(path);
  EXPECT_EQ(testing_tools::errorMessage(ErrorKind::Input, [&] { input.freshModule(); }),
            path + ": the file changed while tsopt ran (it is read again for a fresh copy of the original module)");
  std::ifstream file(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  LoadedInput held = loadInputBytes(path, bytes, false);
  EXPECT_EQ(held.archiveBytes, bytes);
  EXPECT_FALSE(held.archiveFile.has_value());
  std::remove(path.c_str());
  EXPECT_TRUE(held.freshModule().forward({at::zeros({30})}).toTensor().equal(-at::ones({30})));
}

TEST(InputLimitsTest, Nesting) {
  const std::string list = "graph():\n  %l : int[] = prim::Constant[value=[1, 2]]()\n  return (%l)\n";
  InputLimits limits;
  limits.maxNesting = 1;
  EXPECT_EQ(limitError(list, limits), "t.ir:2:37: brackets nested deeper than 1 levels");
  limits.maxNesting = 2;
  EXPECT_EQ(loadInputBytes("t.ir", list, false, {}, limits).cases.size(), 1u);
  // Brackets inside strings and comments do not count.
  limits.maxNesting = 1;
  EXPECT_EQ(loadInputBytes("t.ir", "graph():  # ((((\n  %s : str = prim::Constant[value=\"[[[[\"]()\n  return (%s)\n",
                           false, {}, limits).cases.size(), 1u);
}

TEST(InputLimitsTest, TensorConstantElements) {
  InputLimits limits;
  limits.maxConstantElements = 6;
  const std::string constant = "graph():\n  %w : Float(2, 4, strides=[4, 1], requires_grad=0, device=cpu) = "
                               "prim::Constant[value=<Tensor>]()\n  return (%w)\n";
  EXPECT_EQ(limitError(constant, limits), "t.ir:2:8: tensor constant of 8 elements is over the limit of 6");
  limits.maxConstantElements = 8;
  EXPECT_EQ(loadInputBytes("t.ir", constant, false, {}, limits).cases.size(), 1u);
}

TEST(InputFileTest, NumbersOutOfRangeNameThemselves) {
  EXPECT_EQ(inputError("graph():\n  %c : int = prim::Constant[value=9223372036854775808]()\n  return (%c)\n"),
            "t.ir:2:35: integer 9223372036854775808 is out of the range of int64 (-9223372036854775808 to "
            "9223372036854775807)");
  EXPECT_EQ(inputError("graph():\n  %c : float = prim::Constant[value=-2e308]()\n  return (%c)\n"),
            "t.ir:2:37: float constant -2e308 is out of the range of double");
  EXPECT_EQ(inputError("graph():\n  %c : float = prim::Constant[value=1e-400]()\n  return (%c)\n"),
            "t.ir:2:37: float constant 1e-400 is out of the range of double");
  EXPECT_NE(parseGraphText("graph():\n  %c : float = prim::Constant[value=1e-300]()\n  return (%c)\n", "t.ir"),
            nullptr);
}

} // namespace
} // namespace tsopt
