"""tsopt.check_equivalence: the report of tsopt --check-equivalence, as an object."""
import copy
import math

import pytest
import torch

import tsopt


def test_optimized_module_is_equivalent(scripted, x):
    optimized = tsopt.optimize(scripted, "-O2", example_inputs=(x,))
    report = tsopt.check_equivalence(scripted, optimized, (x,))
    assert report and report.passed and report.mode == "equivalence"
    assert (report.calls, report.input_sets) == (2, 1)
    [output] = report.outputs
    assert output.path == "output" and output.description == "Float[2, 5]" and output.matches
    assert report.max_abs_error < 1e-5
    assert report.min_cosine > 0.999999
    assert "equivalence: passed, 2 calls on 1 input set" in str(report)


def test_several_input_sets(scripted, x):
    report = tsopt.check_equivalence(scripted, scripted, [(x,), (x[:1],)], calls_per_set=1)
    assert report.passed and (report.calls, report.input_sets) == (2, 2)
    assert report.max_abs_error == 0


def changed_copy(eager, change):
    """A scripted copy of `eager` with its head's bias changed (scripting shares the parameters)."""
    copied = copy.deepcopy(eager)
    change(copied.head.bias.data)
    return torch.jit.script(copied)


def test_different_modules_fail(scripted, eager, x):
    other = changed_copy(eager, lambda bias: bias.add_(0.5))
    report = tsopt.check_equivalence(scripted, other, (x,))
    assert not report
    assert not report.outputs[0].matches
    assert report.max_abs_error == pytest.approx(0.5, rel=1e-5)
    assert report.failure
    assert "MISMATCH" in str(report)
    # Tolerances wide enough let it pass.
    assert tsopt.check_equivalence(scripted, other, (x,), atol=0.6).passed


def test_min_cosine_judges_accuracy(scripted, eager, x):
    other = changed_copy(eager, lambda bias: bias.add_(0.01))
    report = tsopt.check_equivalence(scripted, other, (x,), min_cosine=0.99)
    assert report.passed and report.mode == "accuracy"
    assert 0.99 < report.min_cosine < 1
    strict = tsopt.check_equivalence(scripted, other, (x,), min_cosine=0.9999999)
    assert not strict.passed
    assert strict.failure.startswith("output: cosine ") and "is below min_cosine=0.9999999" in strict.failure


def test_inputs_the_modules_do_not_take(scripted, x):
    with pytest.raises(tsopt.PassFailure, match="^the original module failed to run: Expected at most 2 argument"):
        tsopt.check_equivalence(scripted, scripted, (x, x))


def test_eager_modules_are_refused(eager, scripted, x):
    with pytest.raises(TypeError, match="tsopt.check_equivalence: optimized is an eager nn.Module"):
        tsopt.check_equivalence(scripted, eager, (x,))


def test_nan_cosine_fails_accuracy(scripted, eager, x):
    other = changed_copy(eager, lambda bias: bias.fill_(math.nan))
    assert not tsopt.check_equivalence(scripted, other, (x,), min_cosine=0.5).passed
