"""Counts the source ranges of an archive's code/*.debug_pkl records that are
LibTorch's fakeRange() (torch/csrc/jit/ir/ir.cpp): 0..1 over an empty text,
which Graph::insert gives the nodes it makes. Prints "placeholder ranges: N".

Usage: placeholder_ranges.py ARCHIVE.pt
"""
import pickle
import sys
import zipfile


def main(path):
    count = 0
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            if not name.endswith(".debug_pkl"):
                continue
            records = pickle.loads(archive.read(name))
            if not records or not isinstance(records[0], str):
                continue  # the format without a string table holds no such text
            texts = records[1]
            for _, (source, start, end), *_ in records[2]:
                if sum(len(texts[i]) for i in source[0]) == 0 and (start, end) == (0, 1):
                    count += 1
    print("placeholder ranges: %d" % count)


if __name__ == "__main__":
    main(sys.argv[1])
