//===- tsopt_reduce_main.cpp - The tsopt-reduce command-line tool ---------===//
#include "ir_tools/tsopt/reduce_driver.h"
#include "passes/builtin/builtin_passes.h"

int main(int argc, char** argv) {
  tsopt::registerBuiltinPasses();
  return tsopt::tsoptReduceMain(argc, argv);
}
