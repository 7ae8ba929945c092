# TSOPT_SANITIZE and TSOPT_BUILD_FUZZERS: instrument tsopt's own code (never
# LibTorch, which ASan and UBSan need not see) for the sanitizer build and the
# fuzz targets of fuzz/ (docs/robustness.md). Both want clang: libFuzzer is
# clang's, and GCC's libasan would mix badly with clang's fuzzer runtime.
#
#   cmake -B build-asan -G Ninja -DCMAKE_CXX_COMPILER=clang++ \
#         -DTSOPT_SANITIZE=address,undefined -DTSOPT_BUILD_FUZZERS=ON
if(TSOPT_BUILD_FUZZERS AND NOT TSOPT_SANITIZE)
  set(TSOPT_SANITIZE address,undefined CACHE STRING "" FORCE)
endif()
if(NOT TSOPT_SANITIZE)
  return()
endif()
if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR "TSOPT_SANITIZE=${TSOPT_SANITIZE} needs clang (-DCMAKE_CXX_COMPILER=clang++)")
endif()
# Every undefined behaviour is an error that stops the program, as a crash
# would; frame pointers give ASan's reports whole stacks cheaply.
# Only C++: the CUDA kernels (TSOPT_CUDA) are nvcc's and stay as they are.
# UBSan's vptr check is off: it needs the typeinfo of LibTorch's classes, which
# the wheel does not export (c10::DynamicType's, for one).
add_compile_options("$<$<COMPILE_LANGUAGE:CXX>:-fsanitize=${TSOPT_SANITIZE};-fno-sanitize=vptr;-fno-sanitize-recover=all;-fno-omit-frame-pointer;-gline-tables-only>")
add_link_options(-fsanitize=${TSOPT_SANITIZE})
if(TSOPT_BUILD_FUZZERS)
  # Coverage feedback from the libraries too, not only from the fuzz entry points.
  add_compile_options("$<$<COMPILE_LANGUAGE:CXX>:-fsanitize=fuzzer-no-link>")
endif()
# Programs that are not built here but load tsopt's instrumented libraries
# (Python, for the tsopt package and the lit tests' scripts that load the
# runtime) need the sanitizer runtime first: ctest and lit preload it there
# (docs/robustness.md, "The sanitizer build").
if(TSOPT_SANITIZE MATCHES "address")
  set(_tsopt_sanitizer_runtime libclang_rt.asan-x86_64.so)
else()
  set(_tsopt_sanitizer_runtime libclang_rt.ubsan_standalone-x86_64.so)
endif()
execute_process(COMMAND ${CMAKE_CXX_COMPILER} -print-file-name=${_tsopt_sanitizer_runtime}
  OUTPUT_VARIABLE TSOPT_SANITIZER_RUNTIME OUTPUT_STRIP_TRAILING_WHITESPACE)
# ASan replaces malloc itself; jemalloc would hide every heap error from it.
set(TSOPT_JEMALLOC OFF CACHE BOOL "" FORCE)
message(STATUS "tsopt: built with -fsanitize=${TSOPT_SANITIZE} (fuzz targets: ${TSOPT_BUILD_FUZZERS})")
