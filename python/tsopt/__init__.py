"""tsopt in process: TorchScript graph optimization passes on torch.jit.ScriptModule.

    import tsopt
    optimized = tsopt.optimize(scripted, "-O2", example_inputs=(x,))
    report = tsopt.check_equivalence(scripted, optimized, (x,))
    tsopt.list_passes()

The functions run the same library as the tsopt driver, and raise tsopt.Error
(by kind: UsageError, InputError, PassFailure, OutputError) with the driver's
one-line messages. Importing the package loads tsopt's runtime operators
(tsopt::*), which optimized modules call. See docs/python.md.
"""

import dataclasses
import io
import math
import os
import sys
from typing import List, Optional, Tuple

import torch

from ._errors import Error, InputError, OutputError, PassFailure, UsageError
from . import _C

__all__ = [
    "Error", "UsageError", "InputError", "PassFailure", "OutputError",
    "PassInfo", "OutputComparison", "EquivalenceReport",
    "optimize", "check_equivalence", "list_passes", "load_pass_plugin",
]

# Already mapped into the process by _C, which links it; loading it by path
# also records it in torch.ops.loaded_libraries, as a user's own load would.
torch.ops.load_library(_C.runtime_library_path())


def _require_script_module(value, argument: str, function: str) -> None:
    if isinstance(value, torch.jit.ScriptModule):
        return
    if isinstance(value, torch.nn.Module):
        raise TypeError(
            f"tsopt.{function}: {argument} is an eager nn.Module ({type(value).__name__}), not a TorchScript module; "
            f"script or trace it first, e.g. torch.jit.script(model.eval())")
    raise TypeError(f"tsopt.{function}: {argument} must be a torch.jit.ScriptModule, not {type(value).__name__}")


def _as_call(arguments) -> tuple:
    """One call's arguments: a tuple as given, or a single argument."""
    return tuple(arguments) if isinstance(arguments, (tuple, list)) else (arguments,)


def _pickled(calls: List[tuple]) -> bytes:
    """Input tuples as torch.save writes them, what the driver's input files hold
    (a tuple of them: LibTorch 1.13 cannot read a one-element list)."""
    buffer = io.BytesIO()
    torch.save(tuple(calls), buffer)
    return buffer.getvalue()


def optimize(module: torch.jit.ScriptModule, pipeline: str = "-O2", example_inputs=None, *,
             method: str = "forward", verify_each: bool = False, log=None) -> torch.jit.ScriptModule:
    """Returns an optimized copy of `module`; `module` itself is left as it was.

    pipeline: "-O0" … "-O3", or pipeline text as `tsopt --passes` takes it
        ("freeze,fuse-conv-act{lone-convs=true}").
    example_inputs: one call's arguments (a tuple, or a single tensor). As with
        `tsopt --example-inputs`, the method's inputs take their ranks, dtypes and
        devices, which lets more rewrites fire, and the result refuses other kinds.
    verify_each: verify the graph (and that the module saves and loads) after every pass.
    log: where the run's notes go (default sys.stderr).
    """
    _require_script_module(module, "module", "optimize")
    if not isinstance(pipeline, str):
        raise TypeError(f"tsopt.optimize: pipeline must be a str, not {type(pipeline).__name__}")
    example = None if example_inputs is None else _pickled([_as_call(example_inputs)])
    optimized, messages = _C.optimize(module._c, pipeline, example, method, verify_each)
    if messages:
        (log or sys.stderr).write(messages)
    return torch.jit._recursive.wrap_cpp_module(optimized)


@dataclasses.dataclass(frozen=True)
class OutputComparison:
    """One output leaf (a tensor or scalar inside the outputs), worst over all calls."""
    path: str          # "output", "output[1]", "output['logits']"
    description: str   # "Float[2, 10]"
    matches: bool
    max_abs_error: float
    max_rel_error: float
    cosine: float      # floating-point tensors; 1.0 otherwise
    problem: str       # why it does not match, else ""

    def __str__(self) -> str:
        text = (f"{self.path} {self.description}: max abs error {self.max_abs_error:.3g}, "
                f"max rel error {self.max_rel_error:.3g}, cosine {self.cosine:.6f}")
        return text if self.matches else f"{text}  MISMATCH: {self.problem}"


@dataclasses.dataclass(frozen=True)
class EquivalenceReport:
    """What check_equivalence found; true when it passed."""
    passed: bool
    mode: str          # "equivalence" (tolerances) or "accuracy" (min_cosine)
    calls: int
    input_sets: int
    outputs: Tuple[OutputComparison, ...]
    failure: str       # a run that threw, a mismatch, a cosine below the floor; else ""

    def __bool__(self) -> bool:
        return self.passed

    @property
    def max_abs_error(self) -> float:
        return max((output.max_abs_error for output in self.outputs), default=0.0)

    @property
    def min_cosine(self) -> float:
        return min((output.cosine for output in self.outputs), default=1.0)

    def __str__(self) -> str:
        head = (f"{self.mode}: {'passed' if self.passed else 'FAILED'}, {self.calls} calls on "
                f"{self.input_sets} input set{'s' if self.input_sets != 1 else ''}")
        lines = [head] + [f"  {output}" for output in self.outputs]
        if self.failure:
            lines.append(f"  {self.failure}")
        return "\n".join(lines)


def check_equivalence(reference: torch.jit.ScriptModule, optimized: torch.jit.ScriptModule, inputs, *,
                      rtol: Optional[float] = None, atol: Optional[float] = None,
                      min_cosine: Optional[float] = None, method: str = "forward",
                      calls_per_set: int = 2) -> EquivalenceReport:
    """Runs both modules on the same inputs, as `tsopt --check-equivalence` does.

    inputs: one call's arguments (a tuple, or a single tensor), or a list of such tuples.
    rtol, atol: override the per-dtype defaults (those of torch.testing.assert_close).
    min_cosine: judge by accuracy instead, for pipelines that change numerics on
        purpose: every floating-point output must keep at least this cosine
        similarity (`tsopt --min-cosine`); tolerances are then not used.
    Each input set runs calls_per_set times (some JIT bugs show only on the second call).
    """
    _require_script_module(reference, "reference", "check_equivalence")
    _require_script_module(optimized, "optimized", "check_equivalence")
    calls = [_as_call(call) for call in inputs] if isinstance(inputs, list) else [_as_call(inputs)]
    accuracy = min_cosine is not None
    result = _C.check_modules(reference._c, optimized._c, _pickled(calls), method, rtol, atol, accuracy,
                              calls_per_set)
    outputs = tuple(OutputComparison(**{key: value for key, value in leaf.items() if key != "same_structure"})
                    for leaf in result["outputs"])
    passed, failure = result["passed"], result["failure"]
    if accuracy and passed:
        for output in outputs:
            if math.isnan(output.cosine) or output.cosine < min_cosine:
                passed, failure = False, f"{output.path}: cosine {output.cosine:.10g} is below min_cosine={min_cosine:.10g}"
                break
    return EquivalenceReport(passed, "accuracy" if accuracy else "equivalence", result["calls"],
                             result["input_sets"], outputs, failure)


@dataclasses.dataclass(frozen=True)
class PassInfo:
    """A registered pass or named pipeline, as `tsopt --list-passes` shows it."""
    name: str
    summary: str
    kind: str                  # "graph", "module" (a module pass) or "pipeline"
    changes_numerics: bool
    origin: str                # "built-in", or the plugin that registered it
    options: Tuple[Tuple[str, str, str, str], ...]  # (name, type, default, description)
    pipeline: Optional[str]    # a named pipeline's text


def list_passes() -> List[PassInfo]:
    """Every registered pass and named pipeline, sorted by name."""
    return [PassInfo(**dict(entry, options=tuple(tuple(option) for option in entry["options"])))
            for entry in _C.list_passes()]


def load_pass_plugin(path) -> str:
    """Loads a pass plugin (`tsopt --load-pass-plugin`); returns its name. Its
    passes then run in pipelines and show in list_passes()."""
    return _C.load_pass_plugin(os.fspath(path))
