//===- onednn_library.cpp - oneDNN, opened where no other copy interposes -===//
//
// The kernels call libdnnl-dev's oneDNN 2.x through its C API (dnnl.hpp wraps
// it). The wheel's LibTorch 2.x carries its own oneDNN 3.x, linked statically,
// and exports C++ template instantiations named after oneDNN's internals: the
// std::call_once helpers of dnnl::impl::cpu::x64::gemm_info_t<...>::jit_init's
// lambdas, among 42 symbols that libdnnl.so.2 then binds to libtorch_cpu.so
// when both sit in a process's global scope. Each library would run the other's
// code (measured: matmul and softmax primitives fail to execute in tsopt).
//
// So the runtime does not link libdnnl. It opens it with RTLD_LOCAL, which
// keeps its symbols from everyone else, and RTLD_DEEPBIND, which makes the
// library resolve its own references in itself and its dependencies first.
// Each oneDNN C function the runtime calls is a trampoline here, one indirect
// jump through a slot filled when the runtime is loaded; until then, or when the
// library cannot be opened, the slot throws a c10::Error naming the reason.
// Debian's LibTorch 1.13 links the same libdnnl.so.2: opening it again gives
// the instance already loaded, shared as before.
//
//===----------------------------------------------------------------------===//
#include "runtime/onednn_library.h"

#include <c10/util/Exception.h>
#include <oneapi/dnnl/dnnl.h>

#include <dlfcn.h>

#include <string>

// The C functions of oneDNN the runtime calls (nm -u on the runtime lists them).
#define TSOPT_ONEDNN_FUNCTIONS(X)                                                                                      \
  X(dnnl_dilated_convolution_forward_desc_init)                                                                        \
  X(dnnl_dilated_deconvolution_forward_desc_init)                                                                      \
  X(dnnl_engine_create)                                                                                                \
  X(dnnl_engine_destroy)                                                                                               \
  X(dnnl_inner_product_forward_desc_init)                                                                              \
  X(dnnl_matmul_desc_init)                                                                                             \
  X(dnnl_memory_create)                                                                                                \
  X(dnnl_memory_desc_equal)                                                                                            \
  X(dnnl_memory_desc_get_size)                                                                                         \
  X(dnnl_memory_desc_init_by_strides)                                                                                  \
  X(dnnl_memory_desc_init_by_tag)                                                                                      \
  X(dnnl_memory_destroy)                                                                                               \
  X(dnnl_memory_get_engine)                                                                                            \
  X(dnnl_memory_get_memory_desc)                                                                                       \
  X(dnnl_pooling_forward_desc_init)                                                                                    \
  X(dnnl_post_ops_append_binary)                                                                                       \
  X(dnnl_post_ops_append_eltwise)                                                                                      \
  X(dnnl_post_ops_append_sum)                                                                                          \
  X(dnnl_post_ops_append_sum_v2)                                                                                       \
  X(dnnl_post_ops_append_sum_v3)                                                                                       \
  X(dnnl_post_ops_create)                                                                                              \
  X(dnnl_post_ops_destroy)                                                                                             \
  X(dnnl_primitive_attr_create)                                                                                        \
  X(dnnl_primitive_attr_destroy)                                                                                       \
  X(dnnl_primitive_attr_set_output_scales)                                                                             \
  X(dnnl_primitive_attr_set_post_ops)                                                                                  \
  X(dnnl_primitive_attr_set_scratchpad_mode)                                                                           \
  X(dnnl_primitive_attr_set_zero_points)                                                                               \
  X(dnnl_primitive_create)                                                                                             \
  X(dnnl_primitive_desc_destroy)                                                                                       \
  X(dnnl_primitive_desc_iterator_create)                                                                               \
  X(dnnl_primitive_desc_iterator_destroy)                                                                              \
  X(dnnl_primitive_desc_iterator_fetch)                                                                                \
  X(dnnl_primitive_desc_query)                                                                                         \
  X(dnnl_primitive_desc_query_md)                                                                                      \
  X(dnnl_primitive_destroy)                                                                                            \
  X(dnnl_primitive_execute)                                                                                            \
  X(dnnl_reorder_primitive_desc_create)                                                                                \
  X(dnnl_softmax_forward_desc_init)                                                                                    \
  X(dnnl_softmax_v2_forward_desc_init)                                                                                 \
  X(dnnl_stream_create)                                                                                                \
  X(dnnl_stream_destroy)                                                                                               \
  X(dnnl_stream_wait)                                                                                                  \
  X(dnnl_version)

namespace {

std::string& openError() {
  static std::string error = "the runtime library was not initialized";
  return error;
}

} // namespace

// What an empty slot runs: called in place of the oneDNN function, it throws
// as that function's caller would see a C++ error.
extern "C" __attribute__((visibility("hidden"), noreturn)) void tsopt_onednn_unavailable() {
  TORCH_CHECK(false, "tsopt runtime: oneDNN (" TSOPT_DNNL_LIBRARY_NAME ") could not be opened: ", openError());
}

#define TSOPT_ONEDNN_SLOT(name)                                                                                        \
  extern "C" __attribute__((visibility("hidden"))) void* tsopt_onednn_slot_##name =                                    \
      reinterpret_cast<void*>(&tsopt_onednn_unavailable);                                                              \
  asm(".text\n"                                                                                                        \
      ".globl " #name "\n"                                                                                             \
      ".hidden " #name "\n"                                                                                            \
      ".type " #name ", @function\n" #name ":\n"                                                                       \
      "  jmp *tsopt_onednn_slot_" #name "(%rip)\n"                                                                     \
      ".size " #name ", .-" #name "\n");
TSOPT_ONEDNN_FUNCTIONS(TSOPT_ONEDNN_SLOT)
#undef TSOPT_ONEDNN_SLOT

namespace tsopt::runtime {
namespace {

OneDnnLibrary& loadedLibrary() {
  static OneDnnLibrary library;
  return library;
}

#if defined(__SANITIZE_ADDRESS__)
#define TSOPT_ADDRESS_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TSOPT_ADDRESS_SANITIZER 1
#endif
#endif

/// Opens the library and fills every slot; on failure leaves them throwing.
__attribute__((constructor)) void openOneDnn() {
#if TSOPT_ADDRESS_SANITIZER
  // ASan refuses RTLD_DEEPBIND (google/sanitizers#611): on the pip line the
  // sanitizer build opens a copy of libdnnl marked DF_SYMBOLIC instead (its
  // full path is TSOPT_DNNL_LIBRARY_NAME; runtime/CMakeLists.txt), which
  // binds the library's references to its own definitions first, as
  // RTLD_DEEPBIND does.
  void* handle = dlopen(TSOPT_DNNL_LIBRARY_NAME, RTLD_NOW | RTLD_LOCAL);
#else
  void* handle = dlopen(TSOPT_DNNL_LIBRARY_NAME, RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
#endif
  if (handle == nullptr) {
    openError() = dlerror();
    return;
  }
  // Every function first, so that a library lacking one leaves all slots throwing.
#define TSOPT_ONEDNN_CHECK(name)                                                                                       \
  if (dlsym(handle, #name) == nullptr) {                                                                               \
    openError() = std::string("it has no function " #name);                                                            \
    return;                                                                                                            \
  }
  TSOPT_ONEDNN_FUNCTIONS(TSOPT_ONEDNN_CHECK)
#undef TSOPT_ONEDNN_CHECK
#define TSOPT_ONEDNN_RESOLVE(name) tsopt_onednn_slot_##name = dlsym(handle, #name);
  TSOPT_ONEDNN_FUNCTIONS(TSOPT_ONEDNN_RESOLVE)
#undef TSOPT_ONEDNN_RESOLVE
  void* found = tsopt_onednn_slot_dnnl_version;
  OneDnnLibrary& library = loadedLibrary();
  Dl_info info{};
  if (dladdr(found, &info) != 0 && info.dli_fname != nullptr) {
    library.path = info.dli_fname;
  }
  const dnnl_version_t* version = dnnl_version();
  library.major = version->major;
  library.minor = version->minor;
  library.patch = version->patch;
  openError().clear();
}

} // namespace

const OneDnnLibrary& oneDnnLibrary() {
  if (!openError().empty()) {
    tsopt_onednn_unavailable();
  }
  return loadedLibrary();
}

} // namespace tsopt::runtime
