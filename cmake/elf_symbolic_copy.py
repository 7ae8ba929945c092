"""Copies a shared library with DF_SYMBOLIC set in its DT_FLAGS entry.

    python3 cmake/elf_symbolic_copy.py SOURCE.so DESTINATION.so

The sanitizer build's runtime opens this copy of libdnnl.so.2 (runtime/CMakeLists.txt). Everywhere else the
runtime opens libdnnl with RTLD_DEEPBIND, so that libdnnl's calls into its own C++ template instantiations are
not bound to the wheel's oneDNN 3.x copies exported by libtorch_cpu.so. ASan refuses RTLD_DEEPBIND
(google/sanitizers#611); DF_SYMBOLIC asks the dynamic loader for the same search order (the library first) for
this one library, without a dlopen flag. The library's code and every other byte stay as they are. Exits 1 with
one line when SOURCE is not a 64-bit little-endian ELF file with a DT_FLAGS entry.
"""
import os
import struct
import sys

PT_DYNAMIC = 2
DT_NULL = 0
DT_FLAGS = 30
DF_SYMBOLIC = 0x2


def symbolic_copy(source: str, destination: str) -> None:
    with open(source, "rb") as stream:
        data = bytearray(stream.read())
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise ValueError("not a 64-bit little-endian ELF file")
    program_headers, = struct.unpack_from("<Q", data, 0x20)
    entry_size, entries = struct.unpack_from("<HH", data, 0x36)
    for index in range(entries):
        header = program_headers + index * entry_size
        kind, = struct.unpack_from("<I", data, header)
        if kind != PT_DYNAMIC:
            continue
        offset, = struct.unpack_from("<Q", data, header + 8)
        size, = struct.unpack_from("<Q", data, header + 32)
        for entry in range(offset, offset + size, 16):
            tag, value = struct.unpack_from("<qQ", data, entry)
            if tag == DT_NULL:
                break
            if tag == DT_FLAGS:
                struct.pack_into("<Q", data, entry + 8, value | DF_SYMBOLIC)
                temporary = destination + ".tmp"
                with open(temporary, "wb") as stream:
                    stream.write(data)
                os.replace(temporary, destination)
                return
    raise ValueError("no DT_FLAGS entry in its dynamic section")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: elf_symbolic_copy.py SOURCE.so DESTINATION.so")
    try:
        symbolic_copy(sys.argv[1], sys.argv[2])
    except (OSError, ValueError, struct.error) as error:
        sys.exit("elf_symbolic_copy.py: %s: %s" % (sys.argv[1], error))
