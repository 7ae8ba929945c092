# Chooses the LibTorch line tsopt builds against, finds it, and sets
# TSOPT_PYTHON, the interpreter whose torch is that LibTorch (lit's %python, the
# model zoo, the Python checks). Each line builds into its own build directory.
#
#   -DTSOPT_TORCH=pip      PyTorch 2.x, pinned in scripts/torch-pip-requirements.txt and
#                          installed by scripts/install_torch_pip.sh into .venv/
#                          (TSOPT_PYTHON defaults to .venv/bin/python3). The default.
#   -DTSOPT_TORCH=debian   Debian's libtorch-dev 1.13 with /usr/bin/python3 (python3-torch).
#
# TSOPT_PYTHON may name another interpreter (another virtual environment); the
# LibTorch is then the one inside its torch, and must be of the chosen line.
set(TSOPT_TORCH pip CACHE STRING "LibTorch line: pip (PyTorch 2.x in a virtual environment) or debian (libtorch-dev 1.13)")
set_property(CACHE TSOPT_TORCH PROPERTY STRINGS pip debian)

if(TSOPT_TORCH STREQUAL "pip")
  set(_tsopt_default_python ${PROJECT_SOURCE_DIR}/.venv/bin/python3)
  set(_tsopt_torch_major 2)
  set(_tsopt_install_hint "run scripts/install_torch_pip.sh")
elseif(TSOPT_TORCH STREQUAL "debian")
  set(_tsopt_default_python /usr/bin/python3)
  set(_tsopt_torch_major 1)
  set(_tsopt_install_hint "run scripts/install_deps.sh (libtorch-dev, python3-torch)")
else()
  message(FATAL_ERROR "TSOPT_TORCH=${TSOPT_TORCH}: expected 'pip' or 'debian'")
endif()
if(SKBUILD AND Python3_EXECUTABLE)
  # `pip install .` (pyproject.toml): the interpreter that runs pip, whichever line.
  set(_tsopt_default_python ${Python3_EXECUTABLE})
endif()
set(TSOPT_PYTHON ${_tsopt_default_python} CACHE FILEPATH "Python interpreter whose torch is the LibTorch tsopt builds against")

execute_process(
  COMMAND ${TSOPT_PYTHON} -c "import torch; print(torch.__version__.split('+')[0]); print(torch.utils.cmake_prefix_path)"
  OUTPUT_VARIABLE _tsopt_python_torch ERROR_VARIABLE _tsopt_python_error
  RESULT_VARIABLE _tsopt_python_result OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT _tsopt_python_result EQUAL 0)
  string(STRIP "${_tsopt_python_error}" _tsopt_python_error)
  string(REGEX REPLACE ".*\n" "" _tsopt_python_error "${_tsopt_python_error}")
  message(FATAL_ERROR "TSOPT_TORCH=${TSOPT_TORCH}: ${TSOPT_PYTHON} cannot import torch: ${_tsopt_python_error} (${_tsopt_install_hint})")
endif()
string(REPLACE "\n" ";" _tsopt_python_torch "${_tsopt_python_torch}")
list(GET _tsopt_python_torch 0 TSOPT_PYTHON_TORCH_VERSION)
list(GET _tsopt_python_torch 1 _tsopt_torch_prefix)

if(NOT TSOPT_PYTHON_TORCH_VERSION MATCHES "^${_tsopt_torch_major}\\.")
  message(FATAL_ERROR "TSOPT_TORCH=${TSOPT_TORCH} expects torch ${_tsopt_torch_major}.x, "
    "but ${TSOPT_PYTHON} has torch ${TSOPT_PYTHON_TORCH_VERSION}")
endif()
include(tsoptFindTorch)
tsopt_find_torch(${TSOPT_TORCH} ${_tsopt_torch_prefix}/Torch)

string(REGEX MATCH "^[0-9]+\\.[0-9]+" _tsopt_lib_minor "${Torch_VERSION}")
string(REGEX MATCH "^[0-9]+\\.[0-9]+" _tsopt_py_minor "${TSOPT_PYTHON_TORCH_VERSION}")
if(NOT _tsopt_lib_minor STREQUAL _tsopt_py_minor)
  message(FATAL_ERROR "LibTorch ${Torch_VERSION} (${Torch_DIR}) is not the torch of ${TSOPT_PYTHON} "
    "(${TSOPT_PYTHON_TORCH_VERSION}): archives and lit's Python checks would disagree")
endif()
if(NOT Torch_VERSION MATCHES "^${_tsopt_torch_major}\\.")
  message(FATAL_ERROR "TSOPT_TORCH=${TSOPT_TORCH} expects LibTorch ${_tsopt_torch_major}.x, found ${Torch_VERSION} (${Torch_DIR})")
endif()
message(STATUS "tsopt: LibTorch ${Torch_VERSION} (${TSOPT_TORCH} line) from ${Torch_DIR}; Python ${TSOPT_PYTHON}")

# LibTorch 2.x headers are C++20 (concepts, <compare>); 1.13's are C++17. The
# standard LibTorch's package asks for (its torch target's CXX_STANDARD) wins, and
# tsopt's exported targets require it of their users through a compile feature.
get_target_property(_tsopt_torch_std torch CXX_STANDARD)
if(_tsopt_torch_std AND _tsopt_torch_std GREATER 17)
  set(TSOPT_CXX_STANDARD ${_tsopt_torch_std})
else()
  set(TSOPT_CXX_STANDARD 17)
endif()

# Installed, tsopt's libraries and tools find their own through $ORIGIN; the
# wheel's LibTorch is in no system directory, so its folder joins their RUNPATH
# (without it the loader would take any other libtorch_cpu.so it finds).
set(TSOPT_TORCH_RPATH)
if(TSOPT_TORCH STREQUAL "pip")
  get_filename_component(TSOPT_TORCH_RPATH "${TORCH_LIBRARY}" DIRECTORY)
endif()
