"""Writes the peer comparison's report (issue 10, part 2): markdown tables and a
chart of tsopt -O2's speed-up over each peer.

Usage: .venv/bin/python3 benchmarks/make_peer_report.py --peers PEERS.json... [--ipex IPEX.json...]
           [--out docs/peers.md] [--chart FILE.png] [--command TEXT]

PEERS.json comes from compare_peers.py, IPEX.json from compare_ipex.py (the
commands of the whole comparison: compare_peers.py's docstring). IPEX
was timed in its own process (torch 2.8), so its rows enter through their
speed-up over that process's eager: its "vs best peer" comparisons are ratios
of speed-ups over eager, not of times measured side by side. The chart goes to
images/peers.png beside --out unless --chart says otherwise; it needs
matplotlib (requirements-peers.txt), and is left out, with a note, without it.
"""
import argparse
import datetime
import json
import os
import sys

import peer_common
import peer_models

VARIANT_ORDER = ["eager", "eager-cl", "torch-ofi", *peer_common.INDUCTOR_VARIANTS.values(), "onnxruntime", "ipex",
                 "tsopt-O1", "tsopt-O2", "tsopt-int8", "torch-int8", "onnxruntime-int8"]
GOAL_MODELS = ("resnet50", "mobilenet_v2", "bert_base_seq128")  # tsopt -O2 ahead of every peer at batch 1
GOAL_FLOOR = 0.9  # ... and never below this times the best peer on any row


def variant_key(name: str):
    return (VARIANT_ORDER.index(name), "") if name in VARIANT_ORDER else (len(VARIANT_ORDER), name)


def row_key(key):
    model, batch, threads = key
    models = list(peer_models.MODELS)
    return (models.index(model) if model in models else len(models), model, batch, threads)


def merged(paths):
    """(config, rows) of one script's JSON files: one per process (run_peer_benchmarks.sh runs a
    process per model, so that each model's compiled and exported artefacts are freed). The
    configuration is the first file's, with every file's models and the highest load averages."""
    config, rows = None, []
    for path in paths:
        with open(path) as handle:
            data = json.load(handle)
        rows += data["results"]
        if config is None:
            config = data["config"]
            continue
        config["models"] = {**config.get("models", {}), **data["config"].get("models", {})}
        config["load_average_start"] = max(config["load_average_start"], data["config"]["load_average_start"])
        config["load_average_end"] = max(config["load_average_end"], data["config"]["load_average_end"])
    return config, rows


def load(peers_paths, ipex_paths):
    """(compare_peers config, IPEX config or None, all rows with ratios over both)."""
    config, rows = merged(peers_paths)
    ipex_config = None
    if ipex_paths:
        ipex_config, ipex_rows = merged(ipex_paths)
        rows += [row for row in ipex_rows if row["variant"] == "ipex"]
    peer_common.add_ratios(rows)
    return config, ipex_config, rows


def mismatches(config, ipex_config):
    """Settings on which the two files disagree (their rows are then less comparable)."""
    if not ipex_config:
        return []
    return ["%s: %s in compare_peers.py, %s in compare_ipex.py" % (key, config.get(key), ipex_config.get(key))
            for key in ("attention", "transformers", "rounds", "seconds_per_round", "warmup")
            if config.get(key) != ipex_config.get(key)]


def grouped(rows, precision: str):
    """(model, batch, threads) -> variant -> row, for the cases that have a row of `precision`."""
    cases = {}
    for row in rows:
        cases.setdefault((row["model"], row["batch"], row["threads"]), {})[row["variant"]] = row
    return {key: by_variant for key, by_variant in cases.items()
            if any(row["precision"] == precision and not row["variant"].startswith("eager")
                   for row in by_variant.values())}


def ratio(value) -> str:
    return "%.2f×" % value if value is not None else "–"


def time_cell(row, with_cosine: bool = False) -> str:
    if row is None:
        return "–"
    if "error" in row:
        return "failed"
    if row["variant"] == "ipex":
        return "%s (own process)" % ratio(row["speedup_vs_eager"])
    text = "%.2f (%s)" % (row["median_ms"], ratio(row.get("speedup_vs_eager")))
    return text + (", cos %.4f" % row["cosine"] if with_cosine else "")


def eager_cell(by_variant) -> str:
    baseline = next((row["baseline"] for row in by_variant.values() if row.get("baseline")), None)
    if baseline is None:
        return "–"
    return "%.2f (%s)" % (by_variant[baseline]["median_ms"], baseline)


def variants_of(cases, precision: str, leave_out=()):
    names = {name for by_variant in cases.values() for name, row in by_variant.items()
             if row["precision"] == precision and not name.startswith("eager") and name not in leave_out}
    return sorted(names, key=variant_key)


def table(header, lines):
    return ["| %s |" % " | ".join(header), "|" + "---|" * 3 + "---:|" * (len(header) - 3)] + \
        ["| %s |" % " | ".join(cells) for cells in lines]


def timing_table(cases, precision: str, ours: str, baseline: str, with_cosine: bool):
    """One row per case: the eager baseline, every `precision` variant, and `ours` against its best peer."""
    names = variants_of(cases, precision)
    header = ["model", "batch", "threads", baseline] + names + ["%s vs best %speer" % (ours, "int8 " if with_cosine else "")]
    lines = []
    for key in sorted(cases, key=row_key):
        by_variant = cases[key]
        mine = by_variant.get(ours, {})
        lines.append([key[0], str(key[1]), str(key[2]), eager_cell(by_variant)] +
                     [time_cell(by_variant.get(name), with_cosine=with_cosine) for name in names] +
                     ["%s (best: %s)" % (ratio(mine["vs_best_peer"]), mine["best_peer"]) if mine.get("vs_best_peer")
                      else "–"])
    return table(header, lines)


def fp32_table(cases):
    return timing_table(cases, "fp32", "tsopt-O2", "eager ms (baseline)", with_cosine=False)


def int8_table(cases):
    return timing_table(cases, "int8", "tsopt-int8", "fp32 eager ms (baseline)", with_cosine=True)


def goal_lines(cases):
    header = ["model", "batch", "threads", "tsopt-O2 vs best peer", "best peer", "goal", "met"]
    lines = []
    for key in sorted(cases, key=row_key):
        o2 = cases[key].get("tsopt-O2", {})
        ahead = key[0] in GOAL_MODELS and key[1] == 1
        goal = "> 1 (ahead)" if ahead else "≥ %.1f" % GOAL_FLOOR
        value = o2.get("vs_best_peer")
        met = "–" if value is None else "yes" if (value > 1 if ahead else value >= GOAL_FLOOR) else "**no**"
        lines.append([key[0], str(key[1]), str(key[2]), ratio(value), o2.get("best_peer") or "–", goal, met])
    return table(header, lines)


def cosine_lines(cases):
    names = sorted({name for by_variant in cases.values() for name in by_variant if name != "eager"}, key=variant_key)
    lines = [[key[0], str(key[1]), str(key[2])] +
             ["%.6f" % cases[key][name]["cosine"] if "cosine" in cases[key].get(name, {}) else "–" for name in names]
             for key in sorted(cases, key=row_key)]
    return table(["model", "batch", "threads"] + names, lines)


def setup_lines(rows):
    lines = []
    for row in sorted(rows, key=lambda r: (row_key((r["model"], r["batch"], r["threads"])), variant_key(r["variant"]))):
        if row["setup_s"]:
            steps = ", ".join("%s %.1f" % item for item in row["setup_s"].items())
            lines.append([row["model"], str(row["batch"]), str(row["threads"]), row["variant"], steps,
                          row["note"] or ""])
    return table(["model", "batch", "threads", "variant", "seconds", "note"], lines)


def chart(cases, path: str) -> str:
    """tsopt -O2's speed-up over each fp32 peer per case; '' or why there is no chart."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "no chart: matplotlib is not installed"
    keys = [key for key in sorted(cases, key=row_key) if "speedup_vs_eager" in cases[key].get("tsopt-O2", {})]
    peers = [name for name in variants_of(cases, "fp32") if name in peer_common.FP32_PEERS]
    if not keys or not peers:
        return "no chart: no tsopt-O2 row was timed"
    figure, axis = plt.subplots(figsize=(max(8, 1.1 * len(keys)), 5))
    width = 0.8 / len(peers)
    for index, peer in enumerate(peers):
        positions = [k + (index - (len(peers) - 1) / 2) * width for k in range(len(keys))]
        values = [cases[key]["tsopt-O2"]["speedup_vs_eager"] / cases[key][peer]["speedup_vs_eager"]
                  if "speedup_vs_eager" in cases[key].get(peer, {}) else 0 for key in keys]
        axis.bar(positions, values, width, label="vs " + peer, color=plt.get_cmap("tab10")(index))
    axis.axhline(1.0, color="black", linewidth=0.8)
    axis.axhline(GOAL_FLOOR, color="gray", linewidth=0.8, linestyle="--")
    axis.set_xticks(range(len(keys)))
    axis.set_xticklabels(["%s\nb%d t%d" % key for key in keys], fontsize=7)
    axis.set_ylabel("tsopt -O2 speed-up over the peer (median; > 1: tsopt faster)")
    axis.set_title("tsopt -O2 against its peers (dashed: %.1f×)" % GOAL_FLOOR)
    axis.legend(fontsize=8)
    figure.tight_layout()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    figure.savefig(path, dpi=110, bbox_inches="tight")
    return ""


def setup_section(config, ipex_config):
    cpu = config["cpu"]
    tsopt = config.get("tsopt", {})
    lines = ["- CPU: %s (%s), %s CPUs, %s" % (cpu["model"], cpu["vendor"], cpu["cpus"], cpu["isa"]),
             "- compare_peers.py: torch %s, ONNX Runtime %s, transformers %s, BLAS %s, quantized engine %s" % (
                 config["torch"], config.get("onnxruntime", "?"), config.get("transformers", "?"), config["blas"],
                 config["quantized_engine"]),
             "- **Eager (the baseline of every ratio):** " + config["eager_configuration"],
             "- Inductor: torch.compile modes %s, `torch._inductor.config.freezing = True`; compile time = the "
             "first call" % ", ".join("`%s`" % mode for mode in config.get("inductor_modes", [])),
             "- ONNX Runtime: CPUExecutionProvider, ORT_ENABLE_ALL, intra_op_num_threads = threads, "
             "inter_op_num_threads = 1, session.intra_op.allow_spinning = %s" % config.get(
                 "onnxruntime_allow_spinning", "?"),
             "- OpenMP: OMP_WAIT_POLICY=%s%s" % (config["environment"]["OMP_WAIT_POLICY"], "" if config["environment"][
                 "OMP_WAIT_POLICY"] != "(unset)" else " (libgomp's default: idle threads spin a while, then sleep)"),
             "- transformers attention: `%s`; %d interleaved rounds of ≥ %.1f s per variant; load average "
             "%.1f → %.1f" % (config["attention"], config["rounds"], config["seconds_per_round"],
                              config["load_average_start"], config["load_average_end"])]
    if ipex_config:
        lines.append("- IPEX %s with torch %s in its own process (compare_peers.py's eager and IPEX's eager are "
                     "different processes and torch releases: only speed-ups are carried over); load average "
                     "%.1f → %.1f" % (ipex_config.get("ipex", "?"), ipex_config["torch"],
                                      ipex_config["load_average_start"], ipex_config["load_average_end"]))
        lines += ["  - **settings differ**: " + mismatch for mismatch in mismatches(config, ipex_config)]
    else:
        lines.append("- IPEX: not measured (no --ipex file)")
    if tsopt.get("available"):
        lines.append("- tsopt: `%s`%s" % (tsopt["binary"], "; -O2: " + tsopt["runtime_error"]
                                           if tsopt.get("runtime_error") else ""))
        lines += ["  - `%s`: `%s`" % item for item in sorted(tsopt.get("pipelines", {}).items())]
    else:
        lines.append("- " + (tsopt.get("note") or "tsopt: not measured"))
    lines += ["- %s: %s" % (model, description) for model, description in config["models"].items()]
    return lines


def main(argv) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--peers", required=True, nargs="+", help="compare_peers.py's JSON (one or more)")
    parser.add_argument("--ipex", nargs="*", help="compare_ipex.py's JSON (one or more)")
    parser.add_argument("--out", default=os.path.join("docs", "peers.md"))
    parser.add_argument("--chart", help="PNG (default: images/peers.png beside --out)")
    parser.add_argument("--command", default="benchmarks/compare_peers.py, benchmarks/compare_ipex.py")
    args = parser.parse_args(argv)
    chart_path = args.chart or os.path.join(os.path.dirname(os.path.abspath(args.out)), "images", "peers.png")

    config, ipex_config, rows = load(args.peers, args.ipex)
    for mismatch in mismatches(config, ipex_config):
        print("make_peer_report: warning: the two files' settings differ: " + mismatch, file=sys.stderr)
    fp32_cases, int8_cases = grouped(rows, "fp32"), grouped(rows, "int8")
    chart_note = chart(fp32_cases, chart_path)
    out = ["# tsopt against its peers", "",
           "Generated by `benchmarks/make_peer_report.py` from `%s` on %s. Absolute times are for the record only; "
           "the claims are the ratios, each measured side by side in one process (IPEX: in its own process, see "
           "below); differences under ~15%% mean nothing on this shared machine." % (
               args.command, datetime.datetime.now().strftime("%Y-%m-%d %H:%M")), ""]
    out += [chart_note if chart_note else "![tsopt -O2 vs peers](%s)" % os.path.relpath(
        chart_path, os.path.dirname(os.path.abspath(args.out))), ""]
    out += ["## Setup", ""] + setup_section(config, ipex_config) + [""]
    out += ["## Goal: tsopt -O2 against the best peer", "",
            "Ahead of every peer on %s at batch 1, and never below %.1f× the best peer on any row. Best peer: the "
            "fastest of %s among those measured." % (", ".join(GOAL_MODELS), GOAL_FLOOR,
                                                      ", ".join(peer_common.FP32_PEERS)), ""]
    out += goal_lines(fp32_cases) + [""]
    out += ["## fp32: milliseconds per call (speed-up over eager)", "",
            "Median over all timed calls; × = the eager baseline's median over the variant's (higher is better).", ""]
    out += fp32_table(fp32_cases) + [""]
    if int8_cases:
        out += ["## int8", "",
                "Milliseconds per call (speed-up over fp32 eager), cosine against fp32 eager. Best int8 peer: the "
                "faster of %s." % " and ".join(peer_common.INT8_PEERS), ""]
        out += int8_table(int8_cases) + [""]
    out += ["## Cosine similarity against eager", "",
            "First output, flattened, double precision (BERT, GPT-2: last hidden state; classifiers: logits); the "
            "worst of the timed rounds.", ""]
    out += cosine_lines({**fp32_cases, **int8_cases}) + [""]
    out += ["## Compile, export and optimization times", "",
            "Seconds, once per model, batch size and thread count (exports and tsopt runs once per model and batch "
            "size, repeated on each thread count's row).", ""]
    out += setup_lines(rows) + [""]
    failures = [row for row in rows if "error" in row]
    if failures:
        out += ["## Failures", ""]
        out += ["- %s, batch %d, %d threads, %s: `%s`" % (row["model"], row["batch"], row["threads"], row["variant"],
                                                          row["error"]) for row in failures] + [""]
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as handle:
        handle.write("\n".join(out))
    print("make_peer_report: wrote %s%s" % (args.out, "" if chart_note else " and " + chart_path))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
