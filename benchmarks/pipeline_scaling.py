"""How tsopt's pipeline time and memory grow with graph size (issue 13, part 1).

Traces stacks of N residual blocks (conv -> batch norm -> relu -> add, 8
channels), runs `tsopt MODEL -O2 -o OUT.pt --time-passes` on each in a fresh
process, and prints a Markdown table: the passes' total time (tsopt's own
--time-passes), the process's wall time (load and save included), its peak
resident memory (GNU time) and the model file's size, with the growth from the previous N.

    python3 benchmarks/pipeline_scaling.py --tsopt build-pip/ir_tools/tsopt [--sizes 100,200,400,800,1600]
        [--plot docs/images/scaling.png]

--plot draws pass time against N on log-log axes, with the growth the goal allows
(2.2x per doubling) and linear growth from the smallest N for reference.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

import torch
from torch import nn


class ResidualBlock(nn.Module):
    def __init__(self, channels: int = 8) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.bn(self.conv(x))) + x


def save_stack(blocks: int, path: str) -> None:
    model = nn.Sequential(*[ResidualBlock() for _ in range(blocks)]).eval()
    torch.jit.trace(model, torch.randn(1, 8, 16, 16)).save(path)


def run_tsopt(tsopt: str, model: str, output: str) -> tuple:
    """(pass seconds, wall seconds, peak RSS in MiB) of one tsopt run. The peak
    comes from GNU time: a child's rusage would count the Python parent's pages
    it had before exec."""
    rss_file = output + ".rss"
    start = time.perf_counter()
    result = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss_file,
                             tsopt, model, "-O2", "-o", output, "--time-passes"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"tsopt failed on {model}:\n{result.stderr}")
    total = re.search(r"Total Execution Time: ([0-9.]+) seconds", result.stderr)
    with open(rss_file) as rss:
        peak_kib = int(rss.read().split()[-1])
    return float(total.group(1)), wall, peak_kib / 1024.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tsopt", required=True)
    parser.add_argument("--sizes", default="100,200,400,800,1600")
    parser.add_argument("--plot", help="write a PNG of pass time against N here")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    print("| blocks | model file MiB | -O2 pass time s | growth | wall s (load + save) | peak RSS MiB |")
    print("|---:|---:|---:|---:|---:|---:|")
    previous = None
    times = []
    with tempfile.TemporaryDirectory() as work:
        for blocks in sizes:
            model = os.path.join(work, f"stack{blocks}.pt")
            save_stack(blocks, model)
            passes, wall, rss = run_tsopt(args.tsopt, model, os.path.join(work, f"stack{blocks}.O2.pt"))
            growth = f"{passes / previous:.2f}x" if previous else ""
            size = os.path.getsize(model) / 2**20
            print(f"| {blocks} | {size:.1f} | {passes:.2f} | {growth} | {wall:.2f} | {rss:.0f} |", flush=True)
            previous = passes
            times.append(passes)
    if args.plot:
        plot(sizes, times, args.plot)


def plot(sizes: list, times: list, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4))
    axes.loglog(sizes, times, "o-", label="tsopt -O2 pass time")
    axes.loglog(sizes, [times[0] * (size / sizes[0]) for size in sizes], "--", label="linear")
    axes.loglog(sizes, [times[0] * (size / sizes[0]) ** 1.1375 for size in sizes], ":",
                label="goal: 2.2x per doubling")
    axes.set_xlabel("residual blocks (N)")
    axes.set_ylabel("seconds")
    axes.set_title(f"-O2 pass time against graph size (torch {torch.__version__})")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
