# lit configuration for tsopt's IR tests. The build writes lit.site.cfg.py,
# which sets the tool paths and then loads this file.
import os

import lit.formats

config.name = "tsopt"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".ir", ".test"]
config.excludes = ["Inputs", "CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.tsopt_obj_root, "lit_tests")

config.substitutions.append(("%tsopt", config.tsopt_path))
config.substitutions.append(("%python", config.python_path))
config.substitutions.append(("%inputs", os.path.join(config.test_source_root, "Inputs")))
config.substitutions.append(("%plugin_dir", config.plugin_dir))
# FileCheck and not come from LLVM; put them first on PATH so RUN lines can name them.
config.environment["PATH"] = os.pathsep.join([config.llvm_tools_dir, config.environment.get("PATH", "")])
for name in ("HOME", "TMPDIR", "OMP_NUM_THREADS"):
    if name in os.environ:
        config.environment[name] = os.environ[name]
# The models the tests generate run on one thread: results must not depend on it.
config.environment["OMP_NUM_THREADS"] = "1"
if config.plugin_dir and os.path.isdir(config.plugin_dir):
    config.available_features.add("plugin")
