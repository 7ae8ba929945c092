"""torchvision classifiers with random weights: resnet18, resnet50, mobilenet_v2.

weights=None gives torchvision's own random initialization (from the seed);
the batch norms then get random affine parameters and calibrated, perturbed
running statistics, so conv/batch-norm folding has real work to do.
"""
from typing import Callable, Tuple

import torch
import torch.nn as nn
import torchvision

from zoo_common import Inputs, calibrate_batch_norm, randomize_norm_affine, seeded, trace

IMAGE_SIZE = 224


def _build(constructor: Callable[..., nn.Module], seed: int, batch: int) -> Tuple[torch.jit.ScriptModule, Inputs]:
    generator = seeded(seed)
    model = constructor(weights=None)
    randomize_norm_affine(model)
    calibration = [(torch.randn(4, 3, IMAGE_SIZE, IMAGE_SIZE, generator=generator),)]
    calibrate_batch_norm(model, calibration)
    inputs = [(torch.randn(batch, 3, IMAGE_SIZE, IMAGE_SIZE, generator=generator),) for _ in range(2)]
    return trace(model, inputs), inputs


def resnet18(batch: int):
    return _build(torchvision.models.resnet18, 18, batch)


def resnet50(batch: int):
    return _build(torchvision.models.resnet50, 50, batch)


def mobilenet_v2(batch: int):
    return _build(torchvision.models.mobilenet_v2, 2, batch)
