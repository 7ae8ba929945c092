//===- tsopt_main.cpp - The tsopt command-line driver ----------------------===//
#include "ir_tools/tsopt/driver.h"
#include "passes/builtin/builtin_passes.h"

int main(int argc, char** argv) {
  tsopt::registerBuiltinPasses();
  return tsopt::tsoptMain(argc, argv);
}
