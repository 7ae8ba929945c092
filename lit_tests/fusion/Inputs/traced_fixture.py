"""What the lit inputs that build a module around one op share: compile it
(trace on the first input set, or script), fail unless the graph calls the op
the test is about (so the test cannot pass without exercising its pass), save
it and its input sets (NAME.inputs.pt, the file --check-equivalence reads)."""
import sys

import torch


def save_with_inputs(module, path, sets, op, script=False):
    with torch.no_grad():
        compiled = torch.jit.script(module) if script else torch.jit.trace(module, sets[0], check_trace=False)
    graph = str(compiled.inlined_graph)
    if op not in graph:
        sys.exit(f"the graph does not call {op}")
    compiled.save(path)
    torch.save(sets, path[:-len(".pt")] + ".inputs.pt")
    print(f"{op} calls:", graph.count(op))
