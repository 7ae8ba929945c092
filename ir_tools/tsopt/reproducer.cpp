#include "ir_tools/tsopt/reproducer.h"

#include "ir_tools/common/output_file.h"
#include "ir_tools/tsopt/reducer.h"
#include "passes/core/error.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <sys/stat.h>

namespace tsopt {
namespace {

std::string commented(const std::string& text) {
  std::istringstream lines(text);
  std::string line;
  std::string result;
  while (std::getline(lines, line)) {
    result += "#   " + line + "\n";
  }
  return result;
}

void copyFile(const std::string& from, const std::string& to) {
  writeFileAtomically(to, [&](const std::string& temp) {
    std::ifstream in(from, std::ios::binary);
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out << in.rdbuf();
    if (!in || !out) {
      throw Error(ErrorKind::Output, to + ": cannot copy " + from);
    }
  });
}

} // namespace

std::string writeReproducer(const ReproducerRequest& request) {
  if (mkdir(request.directory.c_str(), 0755) != 0 && errno != EEXIST) {
    throw Error(ErrorKind::Output, request.directory + ": cannot create reproducer directory: " + std::strerror(errno));
  }
  const IRUnit& unit = *request.unitBeforePass;
  std::string check = " --verify-each";
  for (const std::string& plugin : request.plugins) {
    check = " --load-pass-plugin=" + plugin + check;
  }
  if (request.equivalenceCheck) {
    check += request.equivalenceInputs ? " --check-equivalence=%S/reproducer.inputs.pt" : " --check-equivalence";
    if (request.equivalenceInputs) {
      copyFile(*request.equivalenceInputs, request.directory + "/reproducer.inputs.pt");
    }
    if (request.minCosine) {
      std::ostringstream floor;
      floor << " --min-cosine=" << std::setprecision(17) << *request.minCosine;
      check += floor.str();
    }
  }
  std::ostringstream header;
  header << "# Reproducer written by tsopt: " << request.reason << "\n"
         << "# Failing pass: #" << request.passIndex + 1 << " '" << request.passText << "' of the pipeline '"
         << request.pipelineText << "'.\n"
         << "# This test fails until the bug is fixed.\n";
  if (!request.reduction.empty()) {
    header << "# " << request.reduction << "\n";
  }
  std::string path;
  if (unit.module) {
    saveModuleAtomically(request.directory + "/reproducer.pt", *unit.module);
    path = request.directory + "/reproducer.test";
    header << "# RUN: %tsopt %S/reproducer.pt --method=" << unit.methodName << " --passes='" << request.passText
           << "'" << check << " -o %t.pt\n"
           << "# The graph of '" << unit.methodName << "' before the pass:\n"
           << commented(unit.graph->toString(false));
    writeTextAtomically(path, header.str());
  } else {
    path = request.directory + "/reproducer.ir";
    header << "# RUN: %tsopt %s --passes='" << request.passText << "'" << check << "\n"
           << parseableGraphText(*unit.graph);
    writeTextAtomically(path, header.str());
  }
  return path;
}

} // namespace tsopt
