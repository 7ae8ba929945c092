"""Writes a copy of a zip archive (torch.jit.save or torch.save) with one
field damaged the way the fuzzers found (docs/robustness.md):
  directory-offset   the central directory's offset points past the end of
                     the file (ZIP64's wraps around 2^64, as miniz misread)
  binunicode-length  data.pkl's first BINUNICODE declares 4294967294 bytes
Usage: damage_archive.py KIND IN OUT"""
import io
import struct
import sys
import zipfile


def damage_directory_offset(data):
    zip64 = data.rfind(b'PK\x06\x06')
    if zip64 >= 0:
        struct.pack_into('<Q', data, zip64 + 48, 0xffffffffffffff00)
    else:
        struct.pack_into('<I', data, data.rfind(b'PK\x05\x06') + 16, 0xfffffff0)


def damage_binunicode_length(data):
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        info = next(i for i in archive.infolist() if i.filename.endswith('/data.pkl'))
    name_length, extra_length = struct.unpack_from('<HH', data, info.header_offset + 26)
    start = info.header_offset + 30 + name_length + extra_length
    at = data.index(b'X', start, start + info.compress_size)
    struct.pack_into('<I', data, at + 1, 0xfffffffe)


kind, source, target = sys.argv[1:]
data = bytearray(open(source, 'rb').read())
{'directory-offset': damage_directory_offset, 'binunicode-length': damage_binunicode_length}[kind](data)
open(target, 'wb').write(data)
