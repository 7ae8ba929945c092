"""Checks the shape of a tsopt --sensitivity JSON report.

Usage: check_sensitivity_report.py REPORT.json LAYERS [MIN_COSINE]

LAYERS rows, ranked 1..LAYERS, worst first (only_int8_cosine never
decreasing), cosines in [-1, 1]. With MIN_COSINE, the report must hold an
--auto-keep-float selection that reached it with a prefix of the ranking.
Prints the ranked layers (and the kept ones), then 'ok'; fails otherwise.
"""
import json
import sys


def main():
    report = json.load(open(sys.argv[1]))
    count = int(sys.argv[2])
    for key in ("pipeline", "keep_float_pass", "inputs", "pipeline_runs", "all_int8_cosine", "all_float_cosine",
                "layers", "never_quantized"):
        assert key in report, "missing key " + key
    layers = report["layers"]
    assert len(layers) == count, "%d layers, expected %d" % (len(layers), count)
    assert [layer["rank"] for layer in layers] == list(range(1, count + 1))
    cosines = [layer["only_int8_cosine"] for layer in layers]
    assert cosines == sorted(cosines), "not worst first: %s" % cosines
    for layer in layers:
        for key in ("only_int8_cosine", "only_float_cosine"):
            assert -1 <= layer[key] <= 1, "%s %s = %s" % (layer["layer"], key, layer[key])
    assert report["pipeline_runs"] >= 2 * count + 2
    print("layers: " + " ".join(layer["layer"] for layer in layers))
    if len(sys.argv) > 3:
        floor = float(sys.argv[3])
        selection = report["selection"]
        assert selection["min_cosine"] == floor
        assert selection["reached"] is True
        assert selection["cosine"] >= floor, "cosine %s below %s" % (selection["cosine"], floor)
        kept = selection["keep_float"]
        assert kept == [layer["layer"] for layer in layers[:len(kept)]], "not a prefix of the ranking: %s" % kept
        if kept:
            assert selection["chosen_ms"] > 0 and selection["all_int8_ms"] > 0
        print("keep_float: " + " ".join(kept))
    else:
        assert "selection" not in report
    print("ok")


if __name__ == "__main__":
    main()
