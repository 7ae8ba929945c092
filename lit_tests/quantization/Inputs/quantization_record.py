"""Reads or writes the quantization record tsopt keeps in an int8 archive.

Usage: quantization_record.py show ARCHIVE.pt
       quantization_record.py write ARCHIVE.pt OUTPUT.pt TEXT

show prints the extra file tsopt/quantization.json (or "no record"), as a
user of stock PyTorch reads it; write saves ARCHIVE.pt again with TEXT as that
file, to test what tsopt does with records it did not write.
"""
import sys

import torch

RECORD = "tsopt/quantization.json"

if sys.argv[1] == "show":
    extra = {RECORD: ""}
    torch.jit.load(sys.argv[2], _extra_files=extra)
    text = extra[RECORD]
    text = text.decode() if isinstance(text, bytes) else text
    print(text.strip() or "no record")
else:
    torch.jit.save(torch.jit.load(sys.argv[2]), sys.argv[3], _extra_files={RECORD: sys.argv[4]})
