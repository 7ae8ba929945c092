#include "passes/quantization/calibrate.h"

#include "passes/core/error.h"
#include "passes/core/input_sets.h"
#include "passes/quantization/module_queries.h"

#include <ATen/core/grad_mode.h>

namespace tsopt {

bool CalibratePass::runOnModule(torch::jit::Module& module, PassContext& context) {
  if (calibrationData.value().empty()) {
    throw Error(ErrorKind::Usage, name() + ": no calibration inputs: give tsopt --calibration-data=FILE (input tuples "
                                           "saved with torch.save) or " + name() + "{calibration-data=FILE}");
  }
  if (countObservers(module) == 0) {
    throw Error(ErrorKind::Usage, name() + ": the module has no observers: run insert-observers first");
  }
  InputSets inputs = loadInputSets(calibrationData);
  torch::jit::Method method = module.get_method(context.methodName());
  at::NoGradGuard noGrad;
  for (const std::vector<c10::IValue>& arguments : inputs) {
    try {
      method(arguments);
    } catch (const std::exception& error) {
      throw Error(ErrorKind::Input, name() + ": calibration call " + std::to_string(calls.value() + 1) + " failed: " +
                                        firstLine(error.what()));
    }
    ++calls;
  }
  context.analysis() << "ran " << inputs.size() << " calibration calls from " << calibrationData.value();
  return true;
}

void CalibratePass::setDefaultCalibrationData(const std::string& path) {
  if (calibrationData.value().empty()) {
    calibrationData = path;
  }
}

} // namespace tsopt
