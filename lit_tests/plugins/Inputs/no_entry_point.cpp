//===- no_entry_point.cpp - A shared library that is not a pass plugin ----===//
///
/// It loads, but exports no tsoptGetPassPluginInfo: tsopt must say so and stop.
///
//===----------------------------------------------------------------------===//
extern "C" int tsoptNotAPassPlugin() { return 0; }
