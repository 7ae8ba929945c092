"""Copies a zip archive (torch.jit.save, torch.save) with one record cut short.

    shorten_record.py IN OUT NAME BYTES

NAME is the record's name inside the archive's folder (data/0, constants/0);
the record keeps its first BYTES bytes. Every other record is copied as it is,
in the same order, so the archive's folder is unchanged.
"""
import sys
import zipfile

source, target, name, size = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
with zipfile.ZipFile(source) as archive, zipfile.ZipFile(target, "w") as out:
    found = False
    for info in archive.infolist():
        data = archive.read(info)
        if info.filename.split("/", 1)[-1] == name:
            data, found = data[:size], True
        out.writestr(info, data)
if not found:
    sys.exit(f"shorten_record.py: no record {name} in {source}")
