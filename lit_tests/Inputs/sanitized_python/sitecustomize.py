"""On PYTHONPATH only in a sanitizer build (lit.cfg.py): the interpreter was
started with the shared ASan runtime in LD_PRELOAD, so that it can load tsopt's
instrumented libraries. The programs a script starts (tsopt, tsdump) link the
static runtime, and ASan refuses to run them with the shared one preloaded
("incompatible ASan runtimes"): drop LD_PRELOAD for them. This interpreter
keeps the runtime it already loaded."""
import os

os.environ.pop("LD_PRELOAD", None)
