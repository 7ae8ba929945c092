//===- onednn_library.h - The oneDNN library the runtime's kernels call ---===//
///
/// The runtime does not link oneDNN: it opens libdnnl-dev's library itself,
/// privately (see onednn_library.cpp for why), and reports here which one.
///
//===----------------------------------------------------------------------===//
#pragma once

#include <string>

namespace tsopt::runtime {

struct OneDnnLibrary {
  std::string path;  ///< The file the dynamic loader opened.
  int major = 0, minor = 0, patch = 0;
};

/// The oneDNN the kernels call. Throws c10::Error, naming the library and the
/// loader's reason, when it could not be opened.
const OneDnnLibrary& oneDnnLibrary();

} // namespace tsopt::runtime
