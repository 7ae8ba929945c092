//===- archive_check.h - Bounds checks of zip archives and pickles --------===//
///
/// LibTorch's readers trust the bytes they are given: its zip reader (miniz)
/// reads wherever a damaged central directory points, before or past the
/// buffer, and its unpickler reserves what a length prefix declares before
/// reading it. archiveProblem walks an archive the way they will, checking
/// every offset and length against the bytes there are, so the tools refuse
/// such a file with one line before LibTorch sees it (docs/robustness.md,
/// "Input limits"). The zip and pickle checks use no LibTorch: each is
/// unit-tested on hand-made bytes. tensorStorageProblem unpickles with
/// LibTorch's unpickler (it reads no tensor data) to see what each tensor
/// asks of its storage record, which LibTorch's loader never checks.
///
//===----------------------------------------------------------------------===//
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tsopt {

/// One file of a zip archive, from its central directory.
struct ZipEntry {
  std::string name;
  uint16_t method = 0;      ///< 0: stored; 8: deflated.
  uint64_t dataOffset = 0;  ///< Where its (compressed) bytes start, past the local header.
  uint64_t compressedSize = 0;
  uint64_t size = 0;
  uint64_t centralOffset = 0;  ///< Its record in the central directory: where it starts,
  uint64_t centralSize = 0;    ///< and its bytes (name, extra field and comment included).
};

/// Reads the central directory of the zip archive `bytes` as miniz does (the
/// end-of-central-directory record, ZIP64's when there is one, each entry and
/// its local header), checking that every offset and length it follows stays
/// inside the file. Returns the problem in words, e.g. "damaged zip archive:
/// central directory extends past the end of the file (offset N, size M)";
/// `entries` receives the entries read.
std::optional<std::string> readZipDirectory(std::string_view bytes, std::vector<ZipEntry>& entries);

/// The bytes that, put after the first `entries.front().centralOffset` bytes
/// of the archive `bytes` (its entries' local records, kept in place), make a
/// zip archive whose entries named in `replacements` (full names, e.g.
/// `archive/data.pkl`) hold the new contents, stored: their new local records,
/// then a central directory of every entry in the same order (the others'
/// records copied), and the ZIP64 and classic end records. `entries` come from
/// readZipDirectory on `bytes`. No byte of the original is copied but its
/// central directory: a model's weights stay where they are.
std::string zipTailReplacing(std::string_view bytes, const std::vector<ZipEntry>& entries,
                             const std::map<std::string, std::string>& replacements);

/// Walks the opcodes of a pickle (protocols 0 to 5) up to STOP and returns the
/// first argument that needs more bytes than the record has left, e.g.
/// "BINUNICODE at offset 12 declares 4294967294 bytes, 40 are left", or a
/// memo index no record of this size can reach. An opcode it does not know
/// ends the walk: LibTorch's unpickler refuses it without reading further;
/// with `knownOpcodesOnly` it is the problem (for records LibTorch reads
/// where it cannot report an error).
std::optional<std::string> pickleProblem(std::string_view pickle, bool knownOpcodesOnly = false);

/// One opcode of a pickle: its byte, where it starts and where its argument ends.
struct PickleOpcode {
  uint64_t start = 0;
  uint64_t end = 0;
  unsigned char code = 0;
};

/// The opcodes of a pickle (protocols 0 to 5) up to and including STOP, in
/// order; unset when one is unknown, an argument does not fit (pickleProblem
/// says which), or the pickle ends before a STOP. A FRAME's contents follow
/// it as opcodes of their own.
std::optional<std::vector<PickleOpcode>> pickleOpcodes(std::string_view pickle);

/// The suffix of an archive's source-range records (`code/*.debug_pkl`),
/// which LibTorch reads lazily, when it shows or saves a source range.
inline constexpr const char* kSourceRangeRecordSuffix = ".debug_pkl";

/// Whether the zip entry `name` is a source-range record.
bool isSourceRangeRecord(const std::string& name);

/// readZipDirectory, then pickleProblem on every `.pkl` record (a module's
/// data.pkl and constants.pkl, the pickle of a torch.save file; deflated ones,
/// such as code/*.debug_pkl, inflated first with zlib).
/// What the tools call before handing bytes to torch::jit::load, pickle_load
/// or PyTorchStreamReader.
std::optional<std::string> archiveProblem(std::string_view bytes);

/// The bytes of its storage that a strided tensor reaches: (storage offset +
/// the furthest element its sizes and strides reach + 1) times the element
/// size; 0 when a dimension is 0. Unset when a size or the offset is negative,
/// an element lies before the storage (a negative stride), or the count
/// overflows 64 bits.
std::optional<uint64_t> stridedExtentBytes(const std::vector<int64_t>& sizes, const std::vector<int64_t>& strides,
                                           int64_t storageOffset, uint64_t elementSize);

/// Unpickles the archive's `NAME.pkl` for each NAME of `pickles` (a module:
/// "constants" and "data"; a torch.save file: "data") with LibTorch's
/// unpickler, as its loader will, but without classes, __setstate__ or tensor
/// data, and checks every tensor there against its storage record
/// `NAME/KEY`: the bytes it reaches (stridedExtentBytes) and the size its
/// storage declares must fit the record. LibTorch checks neither: it sizes a
/// storage by the pickle's element count, whatever the record holds, so a
/// damaged pickle makes tensors that read past their data (fuzz_archive: in
/// ExportModule, CUDA copies, __setstate__). Returns e.g. "tensor 'bn.bias'
/// needs 16 bytes, its storage record 'data/6' holds 8", naming the tensor by
/// its attribute path (`constants[3]` for the code's constants, `[0][1]` for
/// an inputs file's tuples); an archive the unpickler refuses is refused with
/// its message. Call after archiveProblem, on bytes it passed.
std::optional<std::string> tensorStorageProblem(std::string_view bytes, const std::vector<std::string>& pickles);

} // namespace tsopt
