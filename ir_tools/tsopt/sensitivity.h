//===- sensitivity.h - Per-layer int8 sensitivity, mixed precision --------===//
///
/// --sensitivity and --auto-keep-float. For a pipeline that quantizes (static:
/// insert-observers with calibrate and quantize-static; dynamic:
/// quantize-dynamic), the layers are those the pipeline can leave in float32
/// through that pass's keep-float option: the conv and linear submodules for
/// insert-observers; for quantize-dynamic, the linear layers (aten::linear, and
/// aten::matmul by a constant) of the graph the passes before it produce, named
/// by their frozen weights. A layer the pipeline quantizes in no case is left
/// out of the table.
///
/// The analysis reruns the whole pipeline on fresh copies of the module, 2N + 2
/// times for N layers: everything int8, every layer in float32, and per layer
/// only that layer in int8 and only that layer in float32. Each result runs once
/// on the first K (--sensitivity-inputs) input sets of --calibration-data, and
/// its worst output cosine to the float32 module (measureAccuracy) fills the
/// table, printed worst layer first (rankBySensitivity).
///
/// --auto-keep-float then keeps the shortest prefix of that ranking in float32
/// whose cosine reaches --min-cosine (chooseKeepFloatPrefix: at most
/// 2 + ceil(log2 N) more runs), sets it as the pass's keep-float for the run
/// proper, and times the chosen module against the all-int8 one, interleaved on
/// the same inputs. It fails, in one line, where even every layer in float32
/// falls short. The same module, inputs and pipeline give the same choice.
///
//===----------------------------------------------------------------------===//
#pragma once

#include "ir_tools/common/input_file.h"
#include "ir_tools/tsopt/driver_options.h"
#include "ir_tools/tsopt/parsed_pipeline.h"

#include <iosfwd>

namespace tsopt {

/// Runs the analysis (and the selection, with options.autoKeepFloat), writing
/// the table and the choice to `err` and the JSON report to
/// options.sensitivityReport. With a choice, the pipeline's quantization pass
/// gets the chosen layers added to its keep-float. Throws tsopt::Error: Usage
/// for a pipeline with no (or two) quantization passes or no calibration data;
/// PassFailure when a variant fails to run or the floor cannot be reached.
void runSensitivityAnalysis(const DriverOptions& options, ParsedPipeline& pipeline, const LoadedInput& input,
                            std::ostream& err);

} // namespace tsopt
