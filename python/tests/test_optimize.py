"""tsopt.optimize: pipelines on a ScriptModule in process, and its errors."""
import os
import subprocess
import sys
import textwrap

import pytest
import torch

import tsopt


def test_O2_fuses_and_matches_eager(eager, scripted, x):
    optimized = tsopt.optimize(scripted, "-O2", example_inputs=(x,))
    assert isinstance(optimized, torch.jit.ScriptModule)
    graph = str(optimized.graph)
    assert "tsopt::conv2d_act" in graph or "tsopt::conv2d_add_act" in graph
    assert "aten::batch_norm" not in graph
    with torch.no_grad():
        # float32 conv with folded batch norm weights: rounding differs from eager's.
        torch.testing.assert_close(optimized(x), eager(x), rtol=1e-4, atol=1e-5)
        other = torch.randn(3, 3, 20, 12)
        torch.testing.assert_close(optimized(other), eager(other), rtol=1e-4, atol=1e-5)


def test_the_callers_module_is_left_alone(scripted, x):
    before = str(scripted.graph)
    expected = scripted(x)
    optimized = tsopt.optimize(scripted, "-O2", log=open(os.devnull, "w"))
    assert optimized is not scripted
    assert str(scripted.graph) == before
    assert "aten::batch_norm" in str(scripted.inlined_graph)
    torch.testing.assert_close(scripted(x), expected, rtol=0, atol=0)


def test_pipeline_text(scripted):
    graph = str(tsopt.optimize(scripted, "freeze,fold-layers,dce").graph)
    assert "aten::batch_norm" not in graph
    assert "tsopt::" not in graph


def test_O0_is_an_unchanged_copy(scripted):
    optimized = tsopt.optimize(scripted, "-O0")
    assert optimized is not scripted
    assert optimized.code == scripted.code


def test_example_inputs_specialize_and_guard(scripted, x, capsys):
    optimized = tsopt.optimize(scripted, "-O1", example_inputs=x)
    assert ("tsopt: note: forward is specialized by example_inputs: it accepts only x as a 4-D Float tensor on cpu"
            in capsys.readouterr().err)
    with pytest.raises(torch.jit.Error, match="tsopt: x: expected a 4-D Float tensor on cpu"):
        optimized(torch.randn(3, 16, 16))


def test_unknown_pass_is_a_usage_error(scripted):
    with pytest.raises(tsopt.UsageError) as raised:
        tsopt.optimize(scripted, "freeze,fuse-cnv-act")
    assert str(raised.value) == "pipeline:8: unknown pass 'fuse-cnv-act'; did you mean 'fuse-conv-act'?"
    assert isinstance(raised.value, (tsopt.Error, ValueError, RuntimeError))


@pytest.mark.parametrize("pipeline, message", [
    ("freeze{bogus=1}", "pipeline:8: unknown option 'bogus' for pass 'freeze'"),
    ("freeze,", "pipeline:"),
    ("-O7", "unknown optimization level '-O7' (use -O0 to -O3)"),
])
def test_bad_pipelines(scripted, pipeline, message):
    with pytest.raises(tsopt.UsageError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        tsopt.optimize(scripted, pipeline)


def test_a_pipeline_must_be_text(scripted):
    with pytest.raises(TypeError, match="pipeline must be a str, not list"):
        tsopt.optimize(scripted, ["freeze"])


def test_an_eager_module_is_a_type_error(eager):
    with pytest.raises(TypeError, match=r"eager nn.Module \(SmallConvNet\), not a TorchScript module; script or trace"):
        tsopt.optimize(eager, "-O2")


def test_not_a_module_is_a_type_error():
    with pytest.raises(TypeError, match="module must be a torch.jit.ScriptModule, not function"):
        tsopt.optimize(lambda x: x, "-O2")


def test_missing_method(scripted):
    with pytest.raises(tsopt.InputError, match="^module has no method 'predict'"):
        tsopt.optimize(scripted, "-O2", method="predict")


def test_example_inputs_that_do_not_fit(scripted, x):
    with pytest.raises(tsopt.InputError, match="^example_inputs: the example has 2 arguments; the method takes 1"):
        tsopt.optimize(scripted, "-O2", example_inputs=(x, x))


def run_python(code):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True)


def test_saved_module_loads_in_a_fresh_process(scripted, x, tmp_path):
    optimized = tsopt.optimize(scripted, "-O2", example_inputs=(x,))
    torch.jit.save(optimized, str(tmp_path / "opt.pt"))
    torch.save((x, optimized(x)), str(tmp_path / "expected.pt"))
    loaded = run_python(f"""
        import torch, tsopt
        module = torch.jit.load({str(tmp_path / "opt.pt")!r})
        x, expected = torch.load({str(tmp_path / "expected.pt")!r})
        torch.testing.assert_close(module(x), expected, rtol=0, atol=0)
        assert "tsopt::" in str(module.graph)
        print("same")
        """)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip() == "same"
    # Without tsopt's runtime ops the archive does not load: importing tsopt is what loads them.
    bare = run_python(f"import torch; torch.jit.load({str(tmp_path / 'opt.pt')!r})")
    assert bare.returncode != 0
    assert "tsopt" in bare.stderr
