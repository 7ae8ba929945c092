#include "passes/core/reduce_range.h"

#include "passes/core/error.h"
#include "runtime/linear_dynamic.h"

namespace tsopt {

bool parseReduceRange(const std::string& value, const std::string& owner) {
  if (value == "true" || value == "false") {
    return value == "true";
  }
  if (value != "auto") {
    throw Error(ErrorKind::Usage, owner + ": reduce-range='" + value + "': expected auto, true or false");
  }
  return runtime::reduceRangeByDefault();
}

} // namespace tsopt
