"""A scripted (not traced) model whose graph keeps a loop and a branch.

Tracing would unroll the loop and bake in one side of the branch; scripting
keeps prim::Loop (its trip count an int attribute, constant once frozen) and a
data-dependent prim::If. The two example inputs take different sides of the
branch, so a pass that breaks either side shows up in an equivalence check.
"""
import torch
import torch.nn as nn

from zoo_common import calibrate_batch_norm, randomize_norm_affine, seeded

CHANNELS = 16
SIZE = 32


class Cell(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(CHANNELS, CHANNELS, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(CHANNELS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.bn(self.conv(x)))


class ScriptedControlFlow(nn.Module):
    def __init__(self, steps: int = 3):
        super().__init__()
        self.steps = steps
        self.stem = nn.Conv2d(3, CHANNELS, 3, padding=1)
        self.stem_bn = nn.BatchNorm2d(CHANNELS)
        self.cell = Cell()
        self.bright = nn.Linear(CHANNELS, 10)
        self.dark = nn.Linear(CHANNELS, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.stem_bn(self.stem(x)))
        for _ in range(self.steps):
            h = h + self.cell(h)
        features = h.mean(dim=[2, 3])
        if bool(x.mean() > 0):
            return self.bright(features)
        return torch.tanh(self.dark(features)) * 2.0


def scripted_control_flow(batch: int):
    generator = seeded(7)
    model = ScriptedControlFlow()
    randomize_norm_affine(model)
    calibrate_batch_norm(model, [(torch.randn(8, 3, SIZE, SIZE, generator=generator),)])
    bright = torch.randn(batch, 3, SIZE, SIZE, generator=generator).abs() + 0.1
    inputs = [(bright,), (-bright.flip(0),)]
    return torch.jit.script(model.eval()), inputs
