"""Times Intel Extension for PyTorch against eager, in its own process with the
torch it needs: the IPEX column of the peer comparison (issue 10, part 2).

Usage: .venv-ipex/bin/python3 benchmarks/compare_ipex.py [--quick] [--models a,b]
           [--batches 1,8] [--threads 1,2] [--rounds N] [--seconds-per-round S] [--json OUT]

PyPI's newest IPEX (2.8.0) needs torch 2.8, not the repository's 2.14 pin, so
it lives in .venv-ipex (scripts/install_bench_peers.sh) and cannot be timed in
compare_peers.py's process. Per model, batch size and thread count, the same
models and inputs as compare_peers.py (peer_models.py: same seeds, same
transformers release) and these variants, interleaved as there (peer_common.py):
  eager, eager-cl   the nn.Module, the same eager configuration as compare_peers.py
  ipex              the documented IPEX inference recipe: ipex.optimize(model.eval())
                    (fp32), then torch.jit.trace + torch.jit.freeze under no_grad
So the ipex row's speed-up is over eager measured in this process, with torch
2.8; make_peer_report.py places it next to compare_peers.py's rows through
that speed-up (the eager times of the two processes are not compared). The
JSON file has the same shape as compare_peers.py's.
"""
import os
import sys

import peer_models  # noqa: F401  First: it sets the environment before torch loads.

import torch  # noqa: E402,I100

import peer_common  # noqa: E402
from peer_common import Variant, attempt, stopwatch  # noqa: E402


def ipex_variant(case) -> Variant:
    import intel_extension_for_pytorch as ipex

    def optimize():
        optimized = ipex.optimize(case.module.eval())  # A copy: inplace=False is ipex.optimize's default.
        with torch.no_grad():
            return torch.jit.freeze(torch.jit.trace(optimized, case.inputs, check_trace=False, strict=False))
    module, seconds = stopwatch(optimize)
    return Variant("ipex", lambda: module(*case.inputs), setup_s={"optimize+trace+freeze": seconds},
                   note="ipex.optimize + trace + freeze, own process (torch %s)" % torch.__version__)


def main(argv) -> int:
    args = peer_common.parse(peer_common.parser(__doc__), argv)
    import intel_extension_for_pytorch as ipex
    import transformers
    configuration = peer_common.config(args, script="compare_ipex.py", ipex=ipex.__version__,
                                       transformers=transformers.__version__)
    print("compare_ipex: torch %s, IPEX %s, transformers %s; CPU %s (%s)" % (
        torch.__version__, ipex.__version__, transformers.__version__, configuration["cpu"]["model"],
        configuration["cpu"]["isa"]))
    print("eager: " + configuration["eager_configuration"])
    results = peer_common.run(args, lambda case, cache: [attempt("ipex", lambda: ipex_variant(case))])
    peer_common.write_json(args.json, configuration, results)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
