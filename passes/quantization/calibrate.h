//===- calibrate.h - Run a module on calibration inputs --------------------===//
#pragma once

#include "passes/core/calibrating_pass.h"
#include "passes/core/pass.h"

namespace tsopt {

/// calibrate (module pass): runs the module's method on every input tuple of
/// calibration-data (a file written by torch.save: a tuple or list of input
/// tuples; tsopt --calibration-data=FILE is the default), under no_grad, so
/// the observers insert-observers added record the value ranges
/// quantize-static turns into scales and zero points. Fails when the module
/// has no observers (run insert-observers first) or no file is given.
/// Changes no IR; it reports "changed" because the observers' state changed.
class CalibratePass final : public ModulePass, public CalibratingPass {
public:
  bool runOnModule(torch::jit::Module& module, PassContext& context) override;
  void setDefaultCalibrationData(const std::string& path) override;

private:
  Option<std::string> calibrationData{this, "calibration-data",
                                      "Inputs saved with torch.save (default: tsopt --calibration-data)", ""};
  Statistic calls{this, "calls", "Calibration calls run"};
};

} // namespace tsopt
