# lit configuration for tsopt's IR tests. The build writes lit.site.cfg.py,
# which sets the tool paths and then loads this file.
import os
import shutil
import subprocess

import lit.formats

config.name = "tsopt"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".ir", ".test"]
config.excludes = ["Inputs", "CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.tsopt_obj_root, "lit_tests")

config.substitutions.append(("%tsopt", config.tsopt_path))
# tsdump is built next to tsopt, from the same library.
config.substitutions.append(("%tsdump", os.path.join(os.path.dirname(config.tsopt_path), "tsdump")))
# tsopt-reduce too; first, so that %tsopt does not eat its prefix.
config.substitutions.insert(0, ("%tsopt_reduce", os.path.join(os.path.dirname(config.tsopt_path), "tsopt-reduce")))
# The Python inputs import the model zoo's definitions and helpers
# (examples/models: bert.py, zoo_common.py). PYTHONPATH is set per command, not
# in config.environment: lit 14's internal shell sets it to lit's own folder for
# the rest of a test once it runs its `diff` builtin out of process.
ZOO_SOURCES = os.path.join(os.path.dirname(config.test_source_root), "examples", "models")


def python_command(interpreter):
    # In a sanitizer build, scripts that load tsopt's libraries (the runtime,
    # the tsopt package) need the sanitizer runtime in the interpreter first;
    # Python's own leaks at exit are not tsopt's.
    # The programs a script starts link the static runtime: a sitecustomize
    # (Inputs/sanitized_python) takes LD_PRELOAD away from them.
    preload = ""
    path = ZOO_SOURCES
    runtime = getattr(config, "sanitizer_runtime", "")  # absent from a build configured before it
    if runtime:
        preload = "LD_PRELOAD=%s ASAN_OPTIONS=detect_leaks=0 " % runtime
        path = os.pathsep.join([os.path.join(config.test_source_root, "Inputs", "sanitized_python"), ZOO_SOURCES])
    return "env %sPYTHONPATH=%s %s" % (preload, path, interpreter)


config.substitutions.append(("%python", python_command(config.python_path)))
# LibTorch leaks a cycle of interface types (7 objects, 768 bytes) on every load of an archive that declares one,
# ModuleDict and ModuleList indexing included (docs/robustness.md). The wheel's LibTorch has no frame pointers, so
# only ASan's slow unwinder gives those allocations the stacks that fuzz/lsan.supp's `leak:torch::jit::load`
# matches; it is too slow for every test, so the RUN lines that load such an archive start with %slow_unwind.
# Outside a sanitizer build it is empty.
slow_unwind = ""
if getattr(config, "sanitizer_runtime", ""):
    slow_unwind = "env ASAN_OPTIONS=%s " % ":".join(
        option for option in [os.environ.get("ASAN_OPTIONS", ""), "fast_unwind_on_malloc=0"] if option)
config.substitutions.append(("%slow_unwind ", slow_unwind))
# The interpreter alone, for scripts that take it as an argument; first, so
# that %python does not take its prefix.
config.substitutions.insert(0, ("%python_exe", config.python_path))
# libtsopt_runtime, for Python RUN lines that load optimized modules (torch.ops.load_library).
config.substitutions.append(("%runtime_library", config.runtime_library_path))
config.substitutions.append(("%inputs", os.path.join(config.test_source_root, "Inputs")))
config.substitutions.append(("%plugin_dir", config.plugin_dir))
config.substitutions.append(("%test_plugin_dir", config.test_plugin_dir))
# Test-only passes (unittests/core/test_plugin.cpp), e.g. the planted miscompile --bisect must find.
config.substitutions.append(("%test_passes_plugin", config.test_passes_plugin))
config.substitutions.append(("%installed_tsopt", config.installed_tsopt_path))
config.substitutions.append(
    ("%expect_exit", "%s %s" % (config.python_path, os.path.join(config.test_source_root, "Inputs", "expect_exit.py"))))
# FileCheck and not come from LLVM; put them first on PATH so RUN lines can name them.
config.environment["PATH"] = os.pathsep.join([config.llvm_tools_dir, config.environment.get("PATH", "")])
for name in ("HOME", "TMPDIR", "OMP_NUM_THREADS"):
    if name in os.environ:
        config.environment[name] = os.environ[name]
# The models the tests generate run on one thread: results must not depend on it.
config.environment["OMP_NUM_THREADS"] = "1"
# The model zoo (examples/models), generated into the build by the `zoo` ctest
# fixture; the zoo tests run only where it exists.
zoo_dir = os.path.join(config.tsopt_obj_root, "zoo")
config.substitutions.append(("%zoo", zoo_dir))
if os.path.isfile(os.path.join(zoo_dir, "zoo.stamp")):
    config.available_features.add("zoo")
# Graphviz renders tsdump --format=dot; the tests that pipe into `dot` need it.
if shutil.which("dot"):
    config.available_features.add("graphviz")
# The out-of-tree example (examples/out_of_tree_pass) is built by a ctest fixture
# against the installed tree. Its products, not its folder, decide the features:
# a failed build leaves the folder behind.
example_products = {
    "plugin": os.path.join(config.plugin_dir, "libtsopt_example_plugin.so"),
    "my-opt": os.path.join(config.plugin_dir, "my-opt"),
}
for feature, path in example_products.items():
    if os.path.isfile(path):
        config.available_features.add(feature)
    elif lit_config.params.get("example_required"):
        lit_config.fatal("%s is missing: build the out-of-tree example first (ctest runs the "
                         "out-of-tree-example-build fixture)" % path)
config.substitutions.append(("%my_opt", example_products["my-opt"]))

# The LibTorch line: "libtorch-1.13" or "libtorch-2", for the few behaviours that differ.
config.available_features.add("libtorch-1.13" if config.torch_version.startswith("1.13") else "libtorch-2")

# x86 CPUs without VNNI sum int8 products in pairs into int16 (8-bit activations overflow).
with open("/proc/cpuinfo") as cpuinfo:
    cpu_flags = set(cpuinfo.read().split())
if "avx2" in cpu_flags and not cpu_flags & {"avx512_vnni", "avx_vnni"}:
    config.available_features.add("x86-without-vnni")

# GPU tests (REQUIRES: cuda): where the build has the CUDA kernels (TSOPT_CUDA)
# and this build's Python sees a GPU; elsewhere lit reports them UNSUPPORTED.
def cuda_available():
    if getattr(config, "tsopt_cuda", "").upper() not in ("ON", "TRUE", "YES", "1"):
        return False
    probe = subprocess.run([config.python_path, "-c", "import torch; print(torch.cuda.is_available())"],
                           capture_output=True, text=True)
    return probe.returncode == 0 and probe.stdout.strip() == "True"


if cuda_available():
    config.available_features.add("cuda")

# Cross-version archives: where this build's Python is not Debian's and
# /usr/bin/python3 has Debian's torch 1.13 (python3-torch), the tests in compat/
# write archives with it for this build's tsopt to read.
DEBIAN_PYTHON = "/usr/bin/python3"
if os.path.realpath(config.python_path) != os.path.realpath(DEBIAN_PYTHON) and os.path.exists(DEBIAN_PYTHON):
    probe = subprocess.run([DEBIAN_PYTHON, "-c", "import torch, torchvision; print(torch.__version__)"],
                           capture_output=True, text=True)
    if probe.returncode == 0 and probe.stdout.startswith("1.13"):
        config.available_features.add("torch-1.13-python")
        # Before %python, which would otherwise take its prefix.
        config.substitutions.insert(0, ("%python_113", python_command(DEBIAN_PYTHON)))
