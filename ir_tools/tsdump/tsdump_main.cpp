//===- tsdump_main.cpp - The tsdump command-line tool ----------------------===//
#include "ir_tools/tsdump/dump.h"

int main(int argc, char** argv) { return tsopt::tsdumpMain(argc, argv); }
