#include "fuzz/fuzz_common.h"

#include "ir_tools/common/input_file.h"
#include "ir_tools/tsopt/parsed_pipeline.h"
#include "passes/builtin/builtin_passes.h"
#include "passes/builtin/levels.h"
#include "passes/core/error.h"

#include <ATen/Parallel.h>

#include <cstdio>
#include <cstdlib>
#include <sstream>

namespace tsopt::fuzz {
namespace {

[[noreturn]] void abortWith(const std::string& what, const std::string& message) {
  std::fprintf(stderr, "tsopt fuzz: %s: %s\n", what.c_str(), message.c_str());
  std::abort();
}

} // namespace

void initialize() {
  static const bool initialized = [] {
    registerBuiltinPasses();
    at::set_num_threads(1);
    return true;
  }();
  (void)initialized;
}

std::string bytesOf(const uint8_t* data, size_t size) { return std::string(reinterpret_cast<const char*>(data), size); }

void expectOnlyTsoptErrors(const std::string& what, const std::function<void()>& body) {
  try {
    body();
  } catch (const Error&) {
  } catch (const std::exception& error) {
    abortWith(what, std::string("an exception other than tsopt::Error escaped: ") + firstLine(error.what()));
  }
}

void optimizeOrAbort(IRUnit& unit, int level) {
  std::ostringstream log;
  try {
    ParsedPipeline pipeline = ParsedPipeline::parse(levelPipelineName(level), PassRegistry::global(),
                                                    "-O" + std::to_string(level), unit.module.has_value());
    Instrumentation instrumentation;
    instrumentation.verifyEach = true;
    PassManager manager(instrumentation, log);
    manager.addPasses(pipeline.instantiate());
    manager.run(unit);
  } catch (const Error& error) {
    static const bool strict = std::getenv("TSOPT_FUZZ_STRICT") != nullptr;
    if (strict || error.kind() != ErrorKind::PassFailure) {
      abortWith("-O" + std::to_string(level) + " on an input that loads", error.what());
    }
  } catch (const std::exception& error) {
    abortWith("-O" + std::to_string(level) + " on an input that loads", error.what());
  }
}

void forEachParsedGraph(const std::string& text,
                        const std::function<void(std::shared_ptr<torch::jit::Graph>)>& each) {
  if (looksLikeArchive(text)) {
    return;
  }
  std::optional<LoadedInput> input;
  expectOnlyTsoptErrors("parsing IR text", [&] { input = loadInputBytes("fuzz.ir", text, /*splitInputFile=*/true); });
  if (!input) {
    return;
  }
  for (const IRCase& parsed : input->cases) {
    each(parsed.graph);
  }
}

} // namespace tsopt::fuzz
