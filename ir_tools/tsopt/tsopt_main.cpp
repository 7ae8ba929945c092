//===- tsopt_main.cpp - The tsopt command-line driver ----------------------===//
#include "ir_tools/tsopt/driver.h"

int main(int argc, char** argv) { return tsopt::tsoptMain(argc, argv); }
