"""Runs TorchScript archives on their saved inputs and saves what they return,
so that another PyTorch release can compare against this one's results.

usage: save_outputs.py DIR NAME [NAME...]
For each NAME: loads DIR/NAME.pt, calls it on every input tuple of
DIR/NAME.inputs.pt and saves the list of outputs as DIR/NAME.outputs.pt.
"""
import sys

import torch


def main():
    directory, names = sys.argv[1], sys.argv[2:]
    torch.set_num_threads(1)
    for name in names:
        module = torch.jit.load(f"{directory}/{name}.pt")
        with torch.no_grad():
            outputs = [module(*args) for args in torch.load(f"{directory}/{name}.inputs.pt")]
        torch.save(outputs, f"{directory}/{name}.outputs.pt")
        print(f"{name}: saved {len(outputs)} outputs with torch {torch.__version__}")


if __name__ == "__main__":
    main()
