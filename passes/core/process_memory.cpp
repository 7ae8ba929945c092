#include "passes/core/process_memory.h"

#include <fstream>
#include <sstream>
#include <string>

namespace tsopt {

ProcessMemory processMemory() {
  ProcessMemory memory;
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    std::optional<size_t>* field = line.rfind("VmRSS:", 0) == 0   ? &memory.resident
                                   : line.rfind("VmHWM:", 0) == 0 ? &memory.peak
                                                                  : nullptr;
    if (field == nullptr) {
      continue;
    }
    std::istringstream fields(line.substr(6));
    size_t kibibytes = 0;
    std::string unit;
    if (fields >> kibibytes >> unit && unit == "kB") {
      *field = kibibytes * 1024;
    }
  }
  return memory;
}

} // namespace tsopt
