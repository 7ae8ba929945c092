"""PyTorch's own freezing tests, ported: test/jit/test_freezing.py,
TestFrozenOptimizations. Each upstream case becomes a module saved as an
archive with its inputs; tsopt runs -O1 on it with --example-inputs (a saved
archive keeps no ranks; upstream folds on the live graph, whose rank the
tracer or the scripted module's own check fixes) and --check-equivalence, and
the script checks, as the upstream FileCheck does, which ops are left.

usage: upstream_freezing.py TSOPT DIR
Prints one line per case, "ok   <upstream test>[<variant>]" or "FAIL ...".

Where tsopt deliberately differs from upstream the expectation says so
(test_linear_bn_folding with BatchNorm2d/3d: upstream folds a batch norm over
dim 1 into the linear's last-dim features, which is only right when the
statistics make the batch norm near the identity, as the test's defaults do).
"""
import itertools
import subprocess
import sys

import torch
import torch.nn as nn

TSOPT, DIRECTORY = sys.argv[1], sys.argv[2]
failures = 0
cases = 0


def randomize(module):
    """Non-trivial statistics: upstream's defaults (mean 0, var 1) would hide a wrong fold."""
    for child in module.modules():
        if isinstance(child, nn.modules.batchnorm._BatchNorm) and child.track_running_stats:
            child.running_mean.uniform_(-1, 1)
            child.running_var.uniform_(0.5, 2)
            child.weight.data.uniform_(0.5, 1.5)
            child.bias.data.uniform_(-0.5, 0.5)
    return module


def check(name, module, inputs, tracing, gone=(), kept=(), method="forward"):
    global failures, cases
    cases += 1
    archive = f"{DIRECTORY}/{name}.pt"
    example = f"{DIRECTORY}/{name}.inputs.pt"
    module = module.eval()
    scripted = torch.jit.trace(module, inputs) if tracing else torch.jit.script(module)
    scripted.save(archive)
    torch.save((inputs, tuple(torch.rand_like(t) for t in inputs)), example)
    command = [TSOPT, archive, "-O1", f"--method={method}", f"--example-inputs={example}",
               f"--check-equivalence={example}"]
    run = subprocess.run(command, capture_output=True, text=True)
    problems = []
    if run.returncode != 0:
        problems.append(f"exit {run.returncode}: {run.stderr.strip().splitlines()[-1:]}")
    problems += [f"{op} left" for op in gone if op in run.stdout]
    problems += [f"{op} gone" for op in kept if op not in run.stdout]
    failures += bool(problems)
    print(("FAIL " if problems else "ok   ") + name + ("  " + "; ".join(problems) if problems else ""))


def spatial_input(module_kind, rank_extra):
    sizes = [4, 3, 4] + [4] * rank_extra
    return (torch.rand(sizes),)


torch.manual_seed(0)
CONVS = [(nn.Conv1d, nn.BatchNorm1d, 0), (nn.Conv2d, nn.BatchNorm2d, 1), (nn.Conv3d, nn.BatchNorm3d, 2)]

# test_conv_bn_folding: folds with running statistics, never without them.
for use_bias, (conv, norm, extra), tracing, track_stats in itertools.product(
        [True, False], CONVS, [True, False], [True, False]):
    class ConvBN(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = conv(3, 32, kernel_size=3, stride=2, bias=use_bias)
            self.bn = norm(32, eps=0.001, track_running_stats=track_stats)

        def forward(self, x):
            return self.bn(self.conv(x))

    name = (f"test_conv_bn_folding[{conv.__name__},{'trace' if tracing else 'script'},"
            f"bias={use_bias},track={track_stats}]")
    expectation = {"gone": ["aten::batch_norm"]} if track_stats else {"kept": ["aten::batch_norm"]}
    check(name, randomize(ConvBN()), spatial_input(conv, extra), tracing, **expectation)


# test_conv_bn_folding_not_forward: the exported method is frozen too.
class ConvBNExported(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 32, kernel_size=3, stride=2, bias=True)
        self.bn = nn.BatchNorm2d(32, eps=0.001)
        self.amt = 3.2

    def forward(self, x):
        return self.bn(self.conv(x))

    @torch.jit.export
    def make_prediction(self, x):
        return self.forward(x) + self.amt


check("test_conv_bn_folding_not_forward", randomize(ConvBNExported()), (torch.rand(4, 3, 8, 8),), False,
      gone=["aten::batch_norm"], method="make_prediction")


# test_conv_add_folding: scalar or [1, C, 1, ...] operands fold; a broadcast
# that grows the output does not; a one-element int tensor does.
def conv_op(conv, op, operand, use_bias):
    class ConvOp(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = conv(3, 32, kernel_size=3, stride=2, bias=use_bias)
            self.tensor = operand

        def forward(self, x):
            return op(self.conv(x), self.tensor)

    return ConvOp()


OPS = [torch.add, torch.sub, torch.mul, torch.div]
for use_bias, (conv, _, extra), tracing, op, scalar in itertools.product(
        [True, False], CONVS, [False, True], OPS, [False, True]):
    shape = [1, 32] + [1] * (extra + 1)
    operand = 2.0 if scalar else torch.rand(shape) + 0.5
    name = (f"test_conv_add_folding[{conv.__name__},{'trace' if tracing else 'script'},{op.__name__},"
            f"bias={use_bias},{'scalar' if scalar else 'tensor'}]")
    check(name, conv_op(conv, op, operand, use_bias), spatial_input(conv, extra), tracing,
          gone=["aten::" + op.__name__])
for use_bias, op in itertools.product([True, False], OPS):
    for label, operand, folds in (("broadcast[32,1,32]", torch.rand(32, 1, 32) + 0.5, False),
                                  ("broadcast[1,1]", torch.rand(1, 1) + 0.5, True),
                                  ("int[2]", torch.tensor([2]).to(torch.int), True)):
        name = f"test_conv_add_folding[{label},{op.__name__},bias={use_bias}]"
        expectation = {"gone": ["aten::" + op.__name__]} if folds else {"kept": ["aten::" + op.__name__]}
        check(name, conv_op(nn.Conv2d, op, operand, use_bias), (torch.rand(4, 3, 4, 4),), False, **expectation)


# test_conv_mul_add_bn: the arithmetic folds first, then the batch norm.
class ConvMulAddBn(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 32, kernel_size=3, stride=1)
        self.bn = nn.BatchNorm2d(32, eps=0.001)
        self.tensor1 = torch.tensor(2.2)
        self.tensor2 = torch.tensor(2)

    def forward(self, x):
        return self.bn(torch.add(torch.mul(self.conv(x), self.tensor1), self.tensor2))


check("test_conv_mul_add_bn", randomize(ConvMulAddBn()), (torch.randn(8, 3, 16, 16),), True,
      gone=["aten::batch_norm", "aten::add", "aten::mul"])

# test_linear_bn_folding: BatchNorm1d on a 2-D linear output folds (with
# running statistics). tsopt keeps BatchNorm2d/3d, see the module docstring.
for norm, tracing, track_stats in itertools.product(
        [nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d], [True, False], [True, False]):
    class LinearBN(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(32, 32)
            self.bn = norm(32, eps=0.001, track_running_stats=track_stats)

        def forward(self, x):
            return self.bn(self.linear(x))

    extra = {nn.BatchNorm1d: 0, nn.BatchNorm2d: 2, nn.BatchNorm3d: 3}[norm]
    name = f"test_linear_bn_folding[{norm.__name__},{'trace' if tracing else 'script'},track={track_stats}]"
    folds = track_stats and norm is nn.BatchNorm1d
    expectation = {"gone": ["aten::batch_norm"]} if folds else {"kept": ["aten::batch_norm"]}
    check(name, randomize(LinearBN()), (torch.rand([3] + [32] * (extra + 1)),), tracing, **expectation)

# test_bn_not_broadcast_with_linear: a batch norm whose channels are not the
# linear's features never folds.
for norm, tracing, (linear_out, bn_in) in itertools.product(
        [nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d], [True, False], [(2, 4), (4, 2), (1, 2)]):
    shape = [3, bn_in] + {nn.BatchNorm1d: [3], nn.BatchNorm2d: [4, 3], nn.BatchNorm3d: [4, 4, 3]}[norm]
    model = randomize(nn.Sequential(nn.Linear(3, linear_out), norm(bn_in)))
    name = f"test_bn_not_broadcast_with_linear[{norm.__name__},{'trace' if tracing else 'script'},{linear_out}->{bn_in}]"
    check(name, model, (torch.rand(shape),), tracing, kept=["aten::batch_norm"])

print(f"{cases} cases, {failures} failed")
sys.exit(1 if failures else 0)
