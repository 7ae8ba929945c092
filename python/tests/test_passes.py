"""tsopt.list_passes and tsopt.load_pass_plugin."""
import os

import pytest

import tsopt


def passes_by_name():
    return {info.name: info for info in tsopt.list_passes()}


def test_list_passes():
    passes = passes_by_name()
    fuse = passes["fuse-conv-act"]
    assert fuse.kind == "graph" and fuse.origin == "built-in" and fuse.summary
    assert passes["O2"].kind == "pipeline" and passes["O2"].pipeline.startswith("O1,")
    assert passes["calibrate"].kind == "module"
    assert passes["quantize-dynamic"].changes_numerics
    assert "preserved-attrs" in [option[0] for option in passes["freeze"].options]
    assert [info.name for info in tsopt.list_passes()] == sorted(passes)


def plugin(variable):
    path = os.environ.get(variable)
    if not path:
        pytest.skip(f"{variable} is not set (ctest sets it to a plugin of the unit tests)")
    return path


def test_load_pass_plugin(scripted):
    assert tsopt.load_pass_plugin(plugin("TSOPT_TEST_PLUGIN")) == "test-plugin"
    info = passes_by_name()["test-plugin-count"]
    assert info.origin != "built-in"
    tsopt.optimize(scripted, "freeze,test-plugin-count")


def test_a_missing_plugin(tmp_path):
    path = str(tmp_path / "libmissing.so")
    with pytest.raises(tsopt.UsageError, match=f"^{path}: cannot load pass plugin: "):
        tsopt.load_pass_plugin(path)


def test_a_plugin_of_another_api():
    with pytest.raises(tsopt.UsageError, match="plugin API"):
        tsopt.load_pass_plugin(plugin("TSOPT_TEST_PLUGIN_BAD_API"))


def test_a_library_that_is_not_a_plugin():
    with pytest.raises(tsopt.UsageError, match="tsoptGetPassPluginInfo"):
        tsopt.load_pass_plugin(tsopt._C.__file__)
