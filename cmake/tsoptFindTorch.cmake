# tsopt_find_torch(LINE TORCH_DIR): finds the LibTorch of a line and sets
# TSOPT_TORCH_LIBRARIES, what tsopt's targets link. Used by the build
# (TsoptTorch.cmake) and installed beside tsoptConfig.cmake, so that projects
# using an installed tsopt find the very LibTorch it was built against.
#
#   pip     the wheel's LibTorch, in TORCH_DIR (<site-packages>/torch/share/cmake/Torch).
#           Debian's LibTorch may be installed too: its Caffe2 package and
#           libtorch.so in /usr must not be found in place of the wheel's, so the
#           system prefixes stay out of the search (TorchConfig names its own
#           paths only as fallbacks).
#           The wheel's LibTorch is a CUDA build; tsopt links its CPU library
#           alone (torch_cpu, kept even where no symbol of it is referenced, for its
#           operator registrations). libtorch_cuda's NCCL and CUDA libraries live in
#           other wheels, which the system's CUDA toolkit would shadow at link
#           time, and a CPU tool has no use for them.
#   debian  Debian's libtorch-dev, found as usual.
macro(tsopt_find_torch line torch_dir)
  if("${line}" STREQUAL "pip")
    set(Caffe2_DIR ${torch_dir}/../Caffe2 CACHE PATH "Caffe2 package of the wheel's LibTorch" FORCE)
    set(CMAKE_FIND_USE_CMAKE_SYSTEM_PATH FALSE)
    find_package(Torch REQUIRED PATHS ${torch_dir} NO_DEFAULT_PATH)
    unset(CMAKE_FIND_USE_CMAKE_SYSTEM_PATH)
    if(TARGET torch_cuda)
      # torch_cpu's package names only include/; the C++ API's headers are in TORCH_INCLUDE_DIRS.
      set_property(TARGET torch_cpu_library APPEND PROPERTY INTERFACE_INCLUDE_DIRECTORIES ${TORCH_INCLUDE_DIRS})
      set(TSOPT_TORCH_LIBRARIES torch_cpu_library)
    else()
      set(TSOPT_TORCH_LIBRARIES ${TORCH_LIBRARIES})
    endif()
  else()
    find_package(Torch REQUIRED)
    set(TSOPT_TORCH_LIBRARIES ${TORCH_LIBRARIES})
  endif()
endmacro()
