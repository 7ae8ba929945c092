//===- compat.h - LibTorch version differences ----------------------------===//
///
/// Every difference between the LibTorch releases tsopt builds against (1.13 and
/// 2.x) lives here, so the rest of the tree is written once. Include this header
/// instead of spelling version checks anywhere else. Today the tree needs no
/// version branch (it keeps to APIs both releases share and lets `auto` absorb
/// c10::optional vs std::optional); new differences go behind TSOPT_TORCH_AT_LEAST.
///
//===----------------------------------------------------------------------===//
#pragma once

#include <torch/csrc/api/include/torch/version.h>


#define TSOPT_TORCH_AT_LEAST(MAJOR, MINOR)                                    \
  (TORCH_VERSION_MAJOR > (MAJOR) ||                                           \
   (TORCH_VERSION_MAJOR == (MAJOR) && TORCH_VERSION_MINOR >= (MINOR)))

#define TSOPT_STRINGIFY_IMPL(X) #X
#define TSOPT_STRINGIFY(X) TSOPT_STRINGIFY_IMPL(X)

/// "MAJOR.MINOR" of the LibTorch this translation unit was compiled against.
/// Plugins record it so the driver can refuse one built for another LibTorch.
#define TSOPT_TORCH_VERSION_STRING                                            \
  TSOPT_STRINGIFY(TORCH_VERSION_MAJOR) "." TSOPT_STRINGIFY(TORCH_VERSION_MINOR)
