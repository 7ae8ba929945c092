//===- calibrating_pass.h - Passes that run the model on sample inputs ----===//
///
/// A pass that runs the module on calibration inputs (calibrate) implements
/// this besides ModulePass, so that a driver hands it the inputs file of its
/// --calibration-data by type, not by the name of an option.
///
//===----------------------------------------------------------------------===//
#pragma once

#include <string>

namespace tsopt {

class CalibratingPass {
public:
  virtual ~CalibratingPass() = default;

  /// Runs on the inputs saved in `path` (torch.save), unless the pipeline gave
  /// the pass a file of its own.
  virtual void setDefaultCalibrationData(const std::string& path) = 0;
};

} // namespace tsopt
