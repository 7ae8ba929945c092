"""Checks tsopt's histogram observers against PyTorch's HistogramObserver.

Usage: check_histogram_observers.py CALIBRATED.pt

CALIBRATED.pt went through insert-observers{activation-observer=histogram}
and calibrate. For every tsopt histogram observer in it, a PyTorch
HistogramObserver gets the same histogram and range (its buffers), and both
compute scale and zero point: the range searches must agree. Prints the
number of observers, how many of them clip their observed range, and "ok";
exits 1 on a disagreement.
"""
import sys
import warnings

import torch
from torch.ao.quantization import HistogramObserver


def main(argv):
    if len(argv) != 2:
        raise SystemExit(__doc__)
    module = torch.jit.load(argv[1])
    checked = clipped = 0
    failed = False
    for name, observer in module.named_modules():
        if observer.original_name != "HistogramObserver":
            continue
        reference = HistogramObserver(reduce_range=observer.reduce_range)
        reference.histogram.copy_(observer.histogram)
        reference.min_val.copy_(observer.min_val)
        reference.max_val.copy_(observer.max_val)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = reference.calculate_qparams()
        scale, zero_point = observer.calculate_qparams()
        if not (torch.allclose(scale, expected[0].float(), rtol=1e-5, atol=0) and
                torch.equal(zero_point, expected[1].long())):
            print("MISMATCH %s: tsopt %s %s, PyTorch %s %s" % (name, scale.item(), zero_point.item(),
                                                             expected[0].item(), expected[1].item()))
            failed = True
        levels = 127 if observer.reduce_range else 255
        full_scale = (max(observer.max_val.item(), 0.0) - min(observer.min_val.item(), 0.0)) / levels
        clipped += int(scale.item() < full_scale * (1 - 1e-4))
        checked += 1
    print("histogram observers: %d, clipping their range: %d" % (checked, clipped))
    print("FAILED" if failed or not checked else "ok")
    return 1 if failed or not checked else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
