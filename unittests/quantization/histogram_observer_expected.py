"""Prints the expected values of observers_test.cpp's histogram observer tests.

Usage: /usr/bin/python3 histogram_observer_expected.py

Feeds the batches of each case (drawn like histogramCase in the test, after
torch.manual_seed(0)) to PyTorch's HistogramObserver, with and without
reduce_range, and prints scale and zero point. "exact range" is the same
observer with torch.histc given the observed range itself where PyTorch 1.13
passes int(min_val), int(max_val); the two agree whenever the range's ends are
integers.
"""
import inspect
import textwrap
import warnings

import torch
import torch.ao.quantization.observer as observer_module
from torch.ao.quantization import HistogramObserver


class ExactRangeHistogramObserver(HistogramObserver):
    pass


def _exact_range_forward():
    source = textwrap.dedent(inspect.getsource(HistogramObserver.forward))
    source = source.replace("min=int(min_val), max=int(max_val)", "min=min_val.item(), max=max_val.item()")
    source = source.replace("min=int(combined_min), max=int(combined_max)",
                            "min=combined_min.item(), max=combined_max.item()")
    namespace = {}
    exec(source, observer_module.__dict__, namespace)
    return namespace["forward"]


ExactRangeHistogramObserver.forward = _exact_range_forward()


def batches(case):
    torch.manual_seed(0)
    if case == "integer-range":
        return [torch.clamp(torch.randn(4096) * 1.5 + 1.0, -2.0, 5.0)]
    if case == "integer-range-3":
        return [torch.clamp(torch.randn(4096) * 1.5 + 1.0, -2.0, 5.0) for _ in range(3)]
    if case == "relu":
        return [torch.clamp(torch.relu(torch.randn(4096) * 2.0), max=6.0) for _ in range(2)]
    if case == "outliers":
        return [torch.cat([torch.randn(4096), torch.tensor([-6.0, 9.0])])]
    if case == "growing":
        return [torch.randn(4096) * (0.3 + 0.4 * i) + 0.1 * i for i in range(4)]
    raise ValueError(case)


def main():
    warnings.simplefilter("ignore")
    for case in ["integer-range", "integer-range-3", "relu", "outliers", "growing"]:
        for reduce_range in (False, True):
            for label, kind in (("PyTorch", HistogramObserver), ("exact range", ExactRangeHistogramObserver)):
                observer = kind(reduce_range=reduce_range)
                for batch in batches(case):
                    observer(batch)
                scale, zero_point = observer.calculate_qparams()
                print("%-16s reduce_range=%-5s %-12s scale %.9e zero point %d"
                      % (case, reduce_range, label, scale.item(), zero_point.item()))


if __name__ == "__main__":
    main()
