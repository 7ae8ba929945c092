"""Helpers every zoo model shares: seeding, batch-norm statistics, tracing.

A freshly constructed batch norm has running_mean 0, running_var 1, weight 1
and bias 0, so folding it into a convolution is nearly an identity and a
broken fold goes unnoticed. The zoo gives every norm layer statistics that
matter, yet keeps activations in a sane range through deep networks.
"""
from typing import List, Sequence, Tuple

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


def trace(model: nn.Module, inputs: Inputs) -> torch.jit.ScriptModule:
    """Traces `model` in eval mode on the first input tuple; the tracer's own
    check reruns it on every tuple and compares with eager mode."""
    model.eval()
    with torch.no_grad():
        return torch.jit.trace(model, inputs[0], check_inputs=inputs)
