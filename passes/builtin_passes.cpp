//===- builtin_passes.cpp - Registers the passes of pass_registry.def -----===//
#include "passes/cleanup/canonicalize.h"
#include "passes/cleanup/common_subexpression_elimination.h"
#include "passes/cleanup/constant_pooling.h"
#include "passes/cleanup/constant_propagation.h"
#include "passes/cleanup/dead_code_elimination.h"
#include "passes/cleanup/inline.h"
#include "passes/cleanup/lower_tuples.h"
#include "passes/cleanup/peephole.h"
#include "passes/cleanup/remove_dropout.h"
#include "passes/cleanup/remove_mutation.h"
#include "passes/core/registry.h"
#include "passes/freezing/canonicalize_traced.h"
#include "passes/freezing/fold_constants.h"
#include "passes/freezing/fold_conv_add_mul.h"
#include "passes/freezing/fold_conv_bn.h"
#include "passes/freezing/fold_linear_bn.h"
#include "passes/freezing/freeze.h"
#include "passes/fusion/fuse_attention.h"
#include "passes/fusion/fuse_concat_linear.h"
#include "passes/fusion/fuse_conv_act.h"
#include "passes/fusion/fuse_conv_add_act.h"
#include "passes/fusion/fuse_linear_act.h"
#include "passes/fusion/propagate_layout.h"
#include "passes/quantization/calibrate.h"
#include "passes/quantization/convert_bf16.h"
#include "passes/quantization/insert_observers.h"
#include "passes/quantization/quantize_dynamic.h"
#include "passes/quantization/quantize_static.h"

namespace tsopt {

void registerBuiltinPasses(PassRegistry& registry) {
#define TSOPT_PASS(NAME, SUMMARY, CLASS)                                                      \
  registry.registerPass(NAME, SUMMARY, [] { return std::make_unique<CLASS>(); });
#include "passes/pass_registry.def"
}

} // namespace tsopt
