"""Helpers every zoo model shares: seeding, batch-norm statistics, tracing,
and the tensors of an output, to compare (the lit tests' Python inputs and
the benchmarks use them too).

A freshly constructed batch norm has running_mean 0, running_var 1, weight 1
and bias 0, so folding it into a convolution is nearly an identity and a
broken fold goes unnoticed. The zoo gives every norm layer statistics that
matter, yet keeps activations in a sane range through deep networks.
"""
from typing import Callable, List, Sequence, Tuple

import torch
import torch.nn as nn

Inputs = List[Tuple[torch.Tensor, ...]]


def seeded(seed: int) -> torch.Generator:
    """Seeds the global generator (module constructors draw from it) and
    returns a private one for the example inputs."""
    torch.manual_seed(seed)
    generator = torch.Generator()
    generator.manual_seed(seed + 1)
    return generator


def randomize_norm_affine(model: nn.Module) -> None:
    """Random scale and shift for every batch and layer norm."""
    for module in model.modules():
        if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.LayerNorm)):
            if module.weight is not None:
                with torch.no_grad():
                    module.weight.uniform_(0.5, 1.5)
                    module.bias.normal_(0.0, 0.1)


@torch.no_grad()
def randomize_batch_norms(model: nn.Module, mean_range: Tuple[float, float] = (-0.5, 0.5),
                          var_range: Tuple[float, float] = (0.5, 2.0), affine: bool = True) -> nn.Module:
    """Uniform random running statistics for every batch norm and, with
    `affine`, a uniform random scale in [0.5, 1.5] and shift in [-0.2, 0.2];
    returns `model`. For small test models, whose activations stay tame
    without calibration (compare calibrate_batch_norm)."""
    for norm in model.modules():
        if isinstance(norm, nn.modules.batchnorm._BatchNorm):
            norm.running_mean.uniform_(*mean_range)
            norm.running_var.uniform_(*var_range)
            if affine:
                norm.weight.uniform_(0.5, 1.5)
                norm.bias.uniform_(-0.2, 0.2)
    return model


@torch.no_grad()
def calibrate_batch_norm(model: nn.Module, batches: Sequence[Tuple[torch.Tensor, ...]]) -> None:
    """Sets each batch norm's running statistics from `batches`, then perturbs
    them so they are not exactly the statistics of any input.

    Calibrating first keeps deep networks numerically tame (a random variance
    per layer compounds over 50 layers); the perturbation keeps the means and
    variances far from the 0/1 a fresh module has.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # Cumulative average over the calibration batches.
    model.train()
    for batch in batches:
        model(*batch)
    model.eval()
    for norm in norms:
        norm.momentum = 0.1
        spread = norm.running_var.sqrt()
        norm.running_mean.add_(torch.randn_like(norm.running_mean) * 0.1 * spread)
        norm.running_var.mul_(torch.empty_like(norm.running_var).uniform_(0.8, 1.25))


def output_tensors(output) -> List[torch.Tensor]:
    """The tensors of a (nested) module output, in order: tuples and lists in
    order, dicts by key; a number becomes a 0-d tensor, anything else is left out."""
    if isinstance(output, torch.Tensor):
        return [output]
    if isinstance(output, (list, tuple)):
        return [leaf for element in output for leaf in output_tensors(element)]
    if isinstance(output, dict):
        return [leaf for key in sorted(output) for leaf in output_tensors(output[key])]
    if isinstance(output, (bool, int, float)):
        return [torch.tensor(output)]
    return []


def worst_cosine(original, candidate, inputs: Inputs) -> float:
    """The lowest cosine similarity (double precision) between the output
    tensors of `original` and `candidate` over every input tuple; asserts that
    each pair has the same shape and dtype."""
    worst = 1.0
    for call in inputs:
        for expected, actual in zip(output_tensors(original(*call)), output_tensors(candidate(*call))):
            assert expected.shape == actual.shape and expected.dtype == actual.dtype
            cosine = torch.nn.functional.cosine_similarity(expected.double().flatten(), actual.double().flatten(), 0)
            worst = min(worst, cosine.item())
    return worst


def trace(model: nn.Module, inputs: Inputs) -> torch.jit.ScriptModule:
    """Traces `model` in eval mode on the first input tuple; the tracer's own
    check reruns it on every tuple and compares with eager mode."""
    model.eval()
    with torch.no_grad():
        return torch.jit.trace(model, inputs[0], check_inputs=inputs)


def save_traced_fixture(model: nn.Module, make_inputs: Callable[[], Tuple[torch.Tensor, ...]], path: str) -> None:
    """The lit fixtures' convention: traces `model` (eval mode) on one tuple of
    `make_inputs()`, saves it to PATH.pt and two more tuples to PATH.inputs.pt,
    the input sets `tsopt --check-equivalence` finds next to the archive."""
    model.eval()
    traced = torch.jit.trace(model, make_inputs())
    traced.save(path)
    torch.save([make_inputs(), make_inputs()], path[:-len(".pt")] + ".inputs.pt")
