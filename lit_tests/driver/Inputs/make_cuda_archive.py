"""Rewrites a TorchScript archive as if it had been saved from a GPU.

Usage: make_cuda_archive.py INPUT.pt OUTPUT.pt

Every tensor storage's location 'cpu' becomes 'cuda' in the archive's pickles
(the pickler memoizes the string, so one rewrite moves them all). Lets a
machine without a GPU test what tsopt does with a CUDA-saved archive.
"""
import sys
import zipfile

CPU = b"X\x03\x00\x00\x00cpu"
CUDA = b"X\x04\x00\x00\x00cuda"

with zipfile.ZipFile(sys.argv[1]) as source, zipfile.ZipFile(sys.argv[2], "w", zipfile.ZIP_STORED) as target:
    rewritten = 0
    for info in source.infolist():
        data = source.read(info.filename)
        if info.filename.endswith(".pkl") and CPU in data:
            data = data.replace(CPU, CUDA)
            rewritten += 1
        target.writestr(info.filename, data)
if rewritten == 0:
    sys.exit("make_cuda_archive.py: no 'cpu' storage location in " + sys.argv[1])
