# TSOPT_CUDA: build libtsopt_runtime_cuda.so, the CUDA kernels of the tsopt::
# ops (runtime/cuda/, docs/cuda.md). On by default when the LibTorch found has
# CUDA (the wheel's torch_cuda target) and a CUDA compiler is found; always off
# on the Debian line (CPU-only LibTorch). Asking for it where it cannot be built
# is an error that says why.
#
# Included after the LibTorch is found. The CUDA architectures are chosen
# before (TORCH_CUDA_ARCH_LIST, in the top-level CMakeLists.txt): LibTorch's
# package turns that list into nvcc's -gencode flags and ignores
# CMAKE_CUDA_ARCHITECTURES.
include(CheckLanguage)

set(_tsopt_cuda_unavailable)
if(NOT TARGET torch_cuda)
  set(_tsopt_cuda_unavailable "the LibTorch found (${Torch_DIR}) is not a CUDA build (no torch_cuda target)")
else()
  check_language(CUDA)
  if(NOT CMAKE_CUDA_COMPILER)
    set(_tsopt_cuda_unavailable "no CUDA compiler found (install the CUDA toolkit's nvcc, or set CUDACXX)")
  endif()
endif()
if(_tsopt_cuda_unavailable)
  set(_tsopt_cuda_default OFF)
else()
  set(_tsopt_cuda_default ON)
endif()
option(TSOPT_CUDA "Build libtsopt_runtime_cuda.so, the CUDA kernels of the tsopt:: ops (docs/cuda.md)" ${_tsopt_cuda_default})
if(TSOPT_CUDA AND _tsopt_cuda_unavailable)
  message(FATAL_ERROR "TSOPT_CUDA=ON, but ${_tsopt_cuda_unavailable}. Configure with -DTSOPT_CUDA=OFF for a CPU-only build.")
endif()

if(TSOPT_CUDA)
  enable_language(CUDA)
  # The wheel's CUDA libraries (cuBLASLt, cuDNN, the CUDA runtime) live in
  # nvidia-* wheels beside torch; libtorch_cuda finds them through its RUNPATH.
  # The companion links and finds the very same files, never the toolkit's
  # copies, which may be another minor version.
  get_filename_component(_tsopt_torch_lib_dir "${TORCH_LIBRARY}" DIRECTORY)
  file(GLOB TSOPT_CUDA_WHEEL_LIBRARY_DIRS LIST_DIRECTORIES true "${_tsopt_torch_lib_dir}/../../nvidia/*/lib")
  # The wheel's copy of CUDA library `name` into `variable`, else the toolkit's target.
  macro(_tsopt_find_cuda_library variable name)
    find_library(${variable} NAMES ${name} lib${name}.so.13 lib${name}.so.12
      PATHS ${TSOPT_CUDA_WHEEL_LIBRARY_DIRS} NO_DEFAULT_PATH)
    if(NOT ${variable})
      find_package(CUDAToolkit REQUIRED)
      set(${variable} CUDA::${name})
    endif()
  endmacro()
  _tsopt_find_cuda_library(TSOPT_CUBLASLT_LIBRARY cublasLt)
  _tsopt_find_cuda_library(TSOPT_CUDART_LIBRARY cudart)
  # cuDNN's graph API (runtime/cuda/cudnn_fused_conv.cpp): the libcudnn.so.9
  # libtorch_cuda loads, from the wheel's nvidia/cudnn, with the headers beside
  # it; the toolkit's copy only where the wheel has none. One libcudnn in the
  # process either way: both have the soname libtorch_cuda asks for.
  set(_tsopt_cudnn_wheel_include_dirs)
  foreach(_tsopt_dir IN LISTS TSOPT_CUDA_WHEEL_LIBRARY_DIRS)
    list(APPEND _tsopt_cudnn_wheel_include_dirs "${_tsopt_dir}/../include")
  endforeach()
  find_library(TSOPT_CUDNN_LIBRARY NAMES libcudnn.so.9 cudnn PATHS ${TSOPT_CUDA_WHEEL_LIBRARY_DIRS} NO_DEFAULT_PATH)
  find_path(TSOPT_CUDNN_INCLUDE_DIR cudnn_graph.h PATHS ${_tsopt_cudnn_wheel_include_dirs} NO_DEFAULT_PATH)
  if(NOT TSOPT_CUDNN_LIBRARY OR NOT TSOPT_CUDNN_INCLUDE_DIR)
    find_package(CUDAToolkit REQUIRED)
    find_library(TSOPT_CUDNN_LIBRARY NAMES cudnn libcudnn.so.9 HINTS ${CUDAToolkit_LIBRARY_DIR})
    find_path(TSOPT_CUDNN_INCLUDE_DIR cudnn_graph.h HINTS ${CUDAToolkit_INCLUDE_DIRS})
  endif()
  if(NOT TSOPT_CUDNN_LIBRARY OR NOT TSOPT_CUDNN_INCLUDE_DIR)
    message(FATAL_ERROR "TSOPT_CUDA=ON, but cuDNN 9 (libcudnn.so.9 and cudnn_graph.h) was found neither in the wheel's nvidia/cudnn nor in the CUDA toolkit. Set TSOPT_CUDNN_LIBRARY and TSOPT_CUDNN_INCLUDE_DIR, or configure with -DTSOPT_CUDA=OFF.")
  endif()
  set(TSOPT_CUDA_RPATH ${_tsopt_torch_lib_dir} ${TSOPT_CUDA_WHEEL_LIBRARY_DIRS})
  message(STATUS "tsopt: CUDA kernels on (nvcc ${CMAKE_CUDA_COMPILER_VERSION}, architectures ${TORCH_CUDA_ARCH_LIST}; cuBLASLt ${TSOPT_CUBLASLT_LIBRARY}; cuDNN ${TSOPT_CUDNN_LIBRARY})")
else()
  if(_tsopt_cuda_unavailable)
    message(STATUS "tsopt: CUDA kernels off: ${_tsopt_cuda_unavailable}")
  else()
    message(STATUS "tsopt: CUDA kernels off (TSOPT_CUDA=OFF)")
  endif()
endif()
