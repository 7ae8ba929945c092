//===- archive_check.cpp - Bounds checks of zip archives and pickles ------===//
#include "passes/core/archive_check.h"

#include "passes/core/error.h"
#include "passes/core/string_utils.h"

#include <torch/csrc/jit/api/compilation_unit.h>
#include <torch/csrc/jit/frontend/resolver.h>
#include <torch/csrc/jit/frontend/script_type_parser.h>
#include <torch/csrc/jit/serialization/unpickler.h>
#include <zlib.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <unordered_map>

namespace tsopt {
namespace {

// Zip record signatures and fixed sizes (PKWARE APPNOTE 4.3).
constexpr uint32_t kLocalHeaderSignature = 0x04034b50;
constexpr uint32_t kCentralHeaderSignature = 0x02014b50;
constexpr uint32_t kEndOfDirectorySignature = 0x06054b50;
constexpr uint32_t kZip64LocatorSignature = 0x07064b50;
constexpr uint32_t kZip64EndOfDirectorySignature = 0x06064b50;
constexpr uint64_t kLocalHeaderSize = 30;
constexpr uint64_t kCentralHeaderSize = 46;
constexpr uint64_t kEndOfDirectorySize = 22;
constexpr uint64_t kZip64LocatorSize = 20;
constexpr uint64_t kZip64EndOfDirectorySize = 56;
constexpr uint64_t kMaxCommentSize = 0xffff;
constexpr uint32_t kZip64Marker = 0xffffffff;
constexpr uint16_t kZip64ExtraField = 0x0001;
/// Deflate expands at most 1032 to 1 (zlib's technical details).
constexpr uint64_t kMaxDeflateRatio = 1032;

uint64_t readLittleEndian(std::string_view bytes, uint64_t offset, int width) {
  uint64_t value = 0;
  for (int index = width - 1; index >= 0; --index) {
    value = (value << 8) | static_cast<unsigned char>(bytes[offset + index]);
  }
  return value;
}

/// Whether [offset, offset + length) lies inside `size` bytes, without overflow.
bool fits(uint64_t offset, uint64_t length, uint64_t size) { return offset <= size && length <= size - offset; }

std::string damaged(const std::string& what) { return "damaged zip archive: " + what; }

/// An entry's name as a message shows it: printable, and not too long.
std::string shownName(std::string_view name) {
  std::string shown;
  for (char c : name.substr(0, 80)) {
    shown += c >= 0x20 && c < 0x7f ? c : '?';
  }
  return "'" + shown + (name.size() > 80 ? "...'" : "'");
}

struct Directory {
  uint64_t entries = 0;
  uint64_t entriesOnThisDisk = 0;
  uint64_t thisDisk = 0;
  uint64_t directoryDisk = 0;
  uint64_t size = 0;
  uint64_t offset = 0;
};

/// Where the fields of Directory lie in an end record: offset and width of each.
struct DirectoryFields {
  struct Field {
    uint64_t Directory::*member;
    uint64_t offset;
    int width;
  };
  Field fields[6];
};

constexpr DirectoryFields kEndOfDirectoryFields{{{&Directory::thisDisk, 4, 2},
                                                 {&Directory::directoryDisk, 6, 2},
                                                 {&Directory::entriesOnThisDisk, 8, 2},
                                                 {&Directory::entries, 10, 2},
                                                 {&Directory::size, 12, 4},
                                                 {&Directory::offset, 16, 4}}};
constexpr DirectoryFields kZip64EndOfDirectoryFields{{{&Directory::thisDisk, 16, 4},
                                                      {&Directory::directoryDisk, 20, 4},
                                                      {&Directory::entriesOnThisDisk, 24, 8},
                                                      {&Directory::entries, 32, 8},
                                                      {&Directory::size, 40, 8},
                                                      {&Directory::offset, 48, 8}}};

void readDirectoryFields(std::string_view bytes, uint64_t record, const DirectoryFields& layout,
                         Directory& directory) {
  for (const DirectoryFields::Field& field : layout.fields) {
    directory.*field.member = readLittleEndian(bytes, record + field.offset, field.width);
  }
}

/// Where miniz finds the end-of-central-directory record: the last signature
/// with a whole record after it, within a comment's reach of the end.
std::optional<uint64_t> findEndOfDirectory(std::string_view bytes) {
  if (bytes.size() < kEndOfDirectorySize) {
    return std::nullopt;
  }
  const uint64_t last = bytes.size() - kEndOfDirectorySize;
  const uint64_t first = last > kMaxCommentSize ? last - kMaxCommentSize : 0;
  for (uint64_t offset = last + 1; offset-- > first;) {
    if (readLittleEndian(bytes, offset, 4) == kEndOfDirectorySignature) {
      return offset;
    }
  }
  return std::nullopt;
}

/// The directory's place and counts, from the end record, or from ZIP64's
/// when a locator precedes it (miniz then takes every value from there).
std::optional<std::string> readDirectoryRecord(std::string_view bytes, uint64_t end, Directory& directory) {
  readDirectoryFields(bytes, end, kEndOfDirectoryFields, directory);
  if (end < kZip64LocatorSize || readLittleEndian(bytes, end - kZip64LocatorSize, 4) != kZip64LocatorSignature) {
    return std::nullopt;
  }
  const uint64_t locator = end - kZip64LocatorSize;
  const uint64_t record = readLittleEndian(bytes, locator + 8, 8);
  if (!fits(record, kZip64EndOfDirectorySize, bytes.size())) {
    return damaged("ZIP64 end-of-central-directory record lies past the end of the file (offset " +
                   std::to_string(record) + ")");
  }
  if (readLittleEndian(bytes, record, 4) != kZip64EndOfDirectorySignature) {
    return std::nullopt;
  }
  if (readLittleEndian(bytes, locator + 16, 4) != 1) {
    return damaged("ZIP64 locator names " + std::to_string(readLittleEndian(bytes, locator + 16, 4)) +
                   " disks, not 1");
  }
  if (readLittleEndian(bytes, record + 4, 8) < kZip64EndOfDirectorySize - 12) {
    return damaged("ZIP64 end-of-central-directory record is too short");
  }
  readDirectoryFields(bytes, record, kZip64EndOfDirectoryFields, directory);
  if (directory.entries > UINT32_MAX || directory.size > UINT32_MAX) {
    return damaged("ZIP64 central directory of " + std::to_string(directory.entries) + " entries and " +
                   std::to_string(directory.size) + " bytes is past miniz's limits");
  }
  return std::nullopt;
}

/// Replaces the 0xffffffff fields of an entry with their ZIP64 extra field's
/// values, in the order the format gives them.
std::optional<std::string> applyZip64Fields(std::string_view extra, const std::string& name,
                                            std::vector<uint64_t*> fields) {
  fields.erase(std::remove_if(fields.begin(), fields.end(), [](uint64_t* field) { return *field != kZip64Marker; }),
               fields.end());
  uint64_t at = 0;
  while (!fields.empty() && fits(at, 4, extra.size())) {
    const uint64_t id = readLittleEndian(extra, at, 2);
    const uint64_t length = readLittleEndian(extra, at + 2, 2);
    if (!fits(at + 4, length, extra.size())) {
      return damaged("extra field of entry " + name + " extends past its header");
    }
    if (id == kZip64ExtraField) {
      if (length < 8 * fields.size()) {
        return damaged("ZIP64 extra field of entry " + name + " is too short");
      }
      for (size_t index = 0; index < fields.size(); ++index) {
        *fields[index] = readLittleEndian(extra, at + 4 + 8 * index, 8);
      }
      return std::nullopt;
    }
    at += 4 + length;
  }
  return std::nullopt;
}

/// One central directory entry at `at` (inside the directory), and its local header.
std::optional<std::string> readEntry(std::string_view bytes, uint64_t at, uint64_t directoryEnd, size_t index,
                                     const Directory& directory, ZipEntry& entry, uint64_t& next) {
  const std::string which = "central directory entry " + std::to_string(index) + " (offset " + std::to_string(at) + ")";
  if (!fits(at, kCentralHeaderSize, directoryEnd) ||
      readLittleEndian(bytes, at, 4) != kCentralHeaderSignature) {
    return damaged(which + " has no entry header");
  }
  entry.method = static_cast<uint16_t>(readLittleEndian(bytes, at + 10, 2));
  entry.compressedSize = readLittleEndian(bytes, at + 20, 4);
  entry.size = readLittleEndian(bytes, at + 24, 4);
  const uint64_t nameLength = readLittleEndian(bytes, at + 28, 2);
  const uint64_t extraLength = readLittleEndian(bytes, at + 30, 2);
  const uint64_t commentLength = readLittleEndian(bytes, at + 32, 2);
  const uint64_t disk = readLittleEndian(bytes, at + 34, 2);
  uint64_t localHeader = readLittleEndian(bytes, at + 42, 4);
  next = at + kCentralHeaderSize + nameLength + extraLength + commentLength;
  entry.centralOffset = at;
  entry.centralSize = next - at;
  if (next > directoryEnd) {
    return damaged(which + " extends past the central directory (" + std::to_string(next - at) + " bytes)");
  }
  entry.name = std::string(bytes.substr(at + kCentralHeaderSize, nameLength));
  const std::string name = shownName(entry.name);
  if (auto problem = applyZip64Fields(bytes.substr(at + kCentralHeaderSize + nameLength, extraLength), name,
                                      {&entry.size, &entry.compressedSize, &localHeader})) {
    return problem;
  }
  if (disk != directory.thisDisk && disk != 1) {
    return damaged("entry " + name + " is on disk " + std::to_string(disk));
  }
  if (entry.method == 0 && entry.size != entry.compressedSize) {
    return damaged("entry " + name + " is stored, yet its sizes differ (" + std::to_string(entry.compressedSize) +
                   " and " + std::to_string(entry.size) + " bytes)");
  }
  if (entry.method != 0 && entry.size / kMaxDeflateRatio > entry.compressedSize) {
    return damaged("entry " + name + " declares " + std::to_string(entry.size) + " bytes from " +
                   std::to_string(entry.compressedSize) + " compressed, more than deflate expands");
  }
  if (!fits(localHeader, kLocalHeaderSize, bytes.size()) ||
      readLittleEndian(bytes, localHeader, 4) != kLocalHeaderSignature) {
    return damaged("entry " + name + " has no local header at offset " + std::to_string(localHeader));
  }
  entry.dataOffset = localHeader + kLocalHeaderSize + readLittleEndian(bytes, localHeader + 26, 2) +
                     readLittleEndian(bytes, localHeader + 28, 2);
  if (!fits(entry.dataOffset, entry.compressedSize, bytes.size())) {
    return damaged("data of entry " + name + " extends past the end of the file (offset " +
                   std::to_string(entry.dataOffset) + ", size " + std::to_string(entry.compressedSize) + ")");
  }
  return std::nullopt;
}

/// How an opcode's argument is laid out.
enum class Argument { None, Fixed, Line, TwoLines, Counted, Frame, Memo };

struct Opcode {
  const char* name;
  Argument argument;
  int width;  ///< Fixed: its bytes; Counted, Frame, Memo: the bytes of its count or index.
};

/// Protocols 0 to 5 (Python's pickletools); nullptr: not an opcode.
const Opcode* findOpcode(unsigned char code) {
  static const struct {
    unsigned char code;
    Opcode opcode;
  } table[] = {
      {'(', {"MARK", Argument::None, 0}},           {')', {"EMPTY_TUPLE", Argument::None, 0}},
      {'.', {"STOP", Argument::None, 0}},           {'0', {"POP", Argument::None, 0}},
      {'1', {"POP_MARK", Argument::None, 0}},       {'2', {"DUP", Argument::None, 0}},
      {'B', {"BINBYTES", Argument::Counted, 4}},    {'C', {"SHORT_BINBYTES", Argument::Counted, 1}},
      {'F', {"FLOAT", Argument::Line, 0}},          {'G', {"BINFLOAT", Argument::Fixed, 8}},
      {'I', {"INT", Argument::Line, 0}},            {'J', {"BININT", Argument::Fixed, 4}},
      {'K', {"BININT1", Argument::Fixed, 1}},       {'L', {"LONG", Argument::Line, 0}},
      {'M', {"BININT2", Argument::Fixed, 2}},       {'N', {"NONE", Argument::None, 0}},
      {'P', {"PERSID", Argument::Line, 0}},         {'Q', {"BINPERSID", Argument::None, 0}},
      {'R', {"REDUCE", Argument::None, 0}},         {'S', {"STRING", Argument::Line, 0}},
      {'T', {"BINSTRING", Argument::Counted, 4}},   {'U', {"SHORT_BINSTRING", Argument::Counted, 1}},
      {'V', {"UNICODE", Argument::Line, 0}},        {'X', {"BINUNICODE", Argument::Counted, 4}},
      {']', {"EMPTY_LIST", Argument::None, 0}},     {'a', {"APPEND", Argument::None, 0}},
      {'b', {"BUILD", Argument::None, 0}},          {'c', {"GLOBAL", Argument::TwoLines, 0}},
      {'d', {"DICT", Argument::None, 0}},           {'e', {"APPENDS", Argument::None, 0}},
      {'g', {"GET", Argument::Line, 0}},            {'h', {"BINGET", Argument::Fixed, 1}},
      {'i', {"INST", Argument::TwoLines, 0}},       {'j', {"LONG_BINGET", Argument::Fixed, 4}},
      {'l', {"LIST", Argument::None, 0}},           {'o', {"OBJ", Argument::None, 0}},
      {'p', {"PUT", Argument::Line, 0}},            {'q', {"BINPUT", Argument::Fixed, 1}},
      {'r', {"LONG_BINPUT", Argument::Memo, 4}},    {'s', {"SETITEM", Argument::None, 0}},
      {'t', {"TUPLE", Argument::None, 0}},          {'u', {"SETITEMS", Argument::None, 0}},
      {'}', {"EMPTY_DICT", Argument::None, 0}},     {0x80, {"PROTO", Argument::Fixed, 1}},
      {0x81, {"NEWOBJ", Argument::None, 0}},        {0x82, {"EXT1", Argument::Fixed, 1}},
      {0x83, {"EXT2", Argument::Fixed, 2}},         {0x84, {"EXT4", Argument::Fixed, 4}},
      {0x85, {"TUPLE1", Argument::None, 0}},        {0x86, {"TUPLE2", Argument::None, 0}},
      {0x87, {"TUPLE3", Argument::None, 0}},        {0x88, {"NEWTRUE", Argument::None, 0}},
      {0x89, {"NEWFALSE", Argument::None, 0}},      {0x8a, {"LONG1", Argument::Counted, 1}},
      {0x8b, {"LONG4", Argument::Counted, 4}},      {0x8c, {"SHORT_BINUNICODE", Argument::Counted, 1}},
      {0x8d, {"BINUNICODE8", Argument::Counted, 8}}, {0x8e, {"BINBYTES8", Argument::Counted, 8}},
      {0x8f, {"EMPTY_SET", Argument::None, 0}},     {0x90, {"ADDITEMS", Argument::None, 0}},
      {0x91, {"FROZENSET", Argument::None, 0}},     {0x92, {"NEWOBJ_EX", Argument::None, 0}},
      {0x93, {"STACK_GLOBAL", Argument::None, 0}},  {0x94, {"MEMOIZE", Argument::None, 0}},
      {0x95, {"FRAME", Argument::Frame, 8}},        {0x96, {"BYTEARRAY8", Argument::Counted, 8}},
      {0x97, {"NEXT_BUFFER", Argument::None, 0}},   {0x98, {"READONLY_BUFFER", Argument::None, 0}},
  };
  for (const auto& entry : table) {
    if (entry.code == code) {
      return &entry.opcode;
    }
  }
  return nullptr;
}

} // namespace

std::optional<std::string> readZipDirectory(std::string_view bytes, std::vector<ZipEntry>& entries) {
  std::optional<uint64_t> end = findEndOfDirectory(bytes);
  if (!end) {
    return std::string("not a zip archive (no end-of-central-directory record)");
  }
  Directory directory;
  if (auto problem = readDirectoryRecord(bytes, *end, directory)) {
    return problem;
  }
  if (directory.entries != directory.entriesOnThisDisk) {
    return damaged("the central directory counts " + std::to_string(directory.entries) + " entries in all and " +
                   std::to_string(directory.entriesOnThisDisk) + " on this disk");
  }
  if ((directory.thisDisk | directory.directoryDisk) != 0 && (directory.thisDisk != 1 || directory.directoryDisk != 1)) {
    return damaged("the archive spans disks (" + std::to_string(directory.thisDisk) + " and " +
                   std::to_string(directory.directoryDisk) + ")");
  }
  if (directory.size < directory.entries * kCentralHeaderSize) {
    return damaged("a central directory of " + std::to_string(directory.size) + " bytes cannot hold " +
                   std::to_string(directory.entries) + " entries");
  }
  if (!fits(directory.offset, directory.size, bytes.size())) {
    return damaged("central directory extends past the end of the file (offset " + std::to_string(directory.offset) +
                   ", size " + std::to_string(directory.size) + ")");
  }
  entries.clear();
  uint64_t at = directory.offset;
  for (uint64_t index = 0; index < directory.entries; ++index) {
    ZipEntry entry;
    if (auto problem = readEntry(bytes, at, directory.offset + directory.size, index, directory, entry, at)) {
      return problem;
    }
    entries.push_back(std::move(entry));
  }
  return std::nullopt;
}

namespace {

void putLittleEndian(std::string& out, uint64_t value, int bytes) {
  for (int index = 0; index < bytes; ++index) {
    out.push_back(index < 8 ? static_cast<char>((value >> (8 * index)) & 0xff) : '\0');
  }
}

uint32_t crc32Of(std::string_view data) {
  uLong crc = crc32(0L, Z_NULL, 0);
  for (size_t at = 0; at < data.size();) {
    const uInt chunk = static_cast<uInt>(std::min<size_t>(data.size() - at, UINT_MAX));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(data.data() + at), chunk);
    at += chunk;
  }
  return static_cast<uint32_t>(crc);
}

/// The fields a local and a central header share, from the flags to the
/// name's length, for a stored entry.
void putStoredEntryFields(std::string& out, uint32_t crc, uint32_t size, size_t nameLength) {
  putLittleEndian(out, 0, 2 + 2 + 2 + 2);  // flags, method (stored), time, date
  putLittleEndian(out, crc, 4);
  putLittleEndian(out, size, 4);  // compressed
  putLittleEndian(out, size, 4);
  putLittleEndian(out, nameLength, 2);
}

} // namespace

std::string zipTailReplacing(std::string_view bytes, const std::vector<ZipEntry>& entries,
                             const std::map<std::string, std::string>& replacements) {
  const uint64_t head = entries.empty() ? 0 : entries.front().centralOffset;
  constexpr uint16_t kVersion = 45;  // ZIP64
  std::string locals;
  std::string central;
  for (const ZipEntry& entry : entries) {
    auto replacement = replacements.find(entry.name);
    if (replacement == replacements.end()) {
      central.append(bytes.substr(entry.centralOffset, entry.centralSize));
      continue;
    }
    const std::string& data = replacement->second;
    const uint64_t offset = head + locals.size();
    const uint32_t crc = crc32Of(data);
    const bool largeSize = data.size() >= kZip64Marker;
    const bool largeOffset = offset >= kZip64Marker;
    const uint32_t shownSize = largeSize ? kZip64Marker : static_cast<uint32_t>(data.size());
    putLittleEndian(locals, kLocalHeaderSignature, 4);
    putLittleEndian(locals, kVersion, 2);
    putStoredEntryFields(locals, crc, shownSize, entry.name.size());
    putLittleEndian(locals, largeSize ? 20 : 0, 2);
    locals += entry.name;
    if (largeSize) {
      putLittleEndian(locals, kZip64ExtraField, 2);
      putLittleEndian(locals, 16, 2);
      putLittleEndian(locals, data.size(), 8);
      putLittleEndian(locals, data.size(), 8);
    }
    locals += data;
    const uint64_t extra = (largeSize ? 16 : 0) + (largeOffset ? 8 : 0);
    putLittleEndian(central, kCentralHeaderSignature, 4);
    putLittleEndian(central, kVersion, 2);
    putLittleEndian(central, kVersion, 2);
    putStoredEntryFields(central, crc, shownSize, entry.name.size());
    putLittleEndian(central, extra == 0 ? 0 : extra + 4, 2);
    putLittleEndian(central, 0, 2 + 2 + 2 + 4);  // comment, disk, internal and external attributes
    putLittleEndian(central, largeOffset ? kZip64Marker : offset, 4);
    central += entry.name;
    if (extra != 0) {
      putLittleEndian(central, kZip64ExtraField, 2);
      putLittleEndian(central, extra, 2);
      if (largeSize) {
        putLittleEndian(central, data.size(), 8);
        putLittleEndian(central, data.size(), 8);
      }
      if (largeOffset) {
        putLittleEndian(central, offset, 8);
      }
    }
  }
  const uint64_t directoryOffset = head + locals.size();
  const uint64_t count = entries.size();
  std::string tail = std::move(locals);
  tail += central;
  const uint64_t zip64Record = directoryOffset + central.size();
  putLittleEndian(tail, kZip64EndOfDirectorySignature, 4);
  putLittleEndian(tail, kZip64EndOfDirectorySize - 12, 8);
  putLittleEndian(tail, kVersion, 2);
  putLittleEndian(tail, kVersion, 2);
  putLittleEndian(tail, 0, 4 + 4);  // this disk, the directory's disk
  putLittleEndian(tail, count, 8);
  putLittleEndian(tail, count, 8);
  putLittleEndian(tail, central.size(), 8);
  putLittleEndian(tail, directoryOffset, 8);
  putLittleEndian(tail, kZip64LocatorSignature, 4);
  putLittleEndian(tail, 0, 4);
  putLittleEndian(tail, zip64Record, 8);
  putLittleEndian(tail, 1, 4);  // disks
  putLittleEndian(tail, kEndOfDirectorySignature, 4);
  putLittleEndian(tail, 0, 2 + 2);
  putLittleEndian(tail, std::min<uint64_t>(count, 0xffff), 2);
  putLittleEndian(tail, std::min<uint64_t>(count, 0xffff), 2);
  putLittleEndian(tail, std::min<uint64_t>(central.size(), kZip64Marker), 4);
  putLittleEndian(tail, std::min<uint64_t>(directoryOffset, kZip64Marker), 4);
  putLittleEndian(tail, 0, 2);  // comment
  return tail;
}

namespace {

/// Steps `at` over the opcode therenamespace {

/// Steps `at` over the opcode there and its argument. `opcode` is null when
/// the byte is no opcode (`at` is then past it). Returns the problem in words
/// when the argument needs more bytes than the pickle has left, or names a
/// memo slot no pickle of this size can fill.
std::optional<std::string> stepOpcode(std::string_view pickle, uint64_t& at, const Opcode*& opcode) {
  const uint64_t start = at++;
  opcode = findOpcode(static_cast<unsigned char>(pickle[start]));
  if (opcode == nullptr || opcode->argument == Argument::None) {
    return std::nullopt;
  }
  const std::string where = std::string(opcode->name) + " at offset " + std::to_string(start);
  const uint64_t left = pickle.size() - at;
  if (opcode->argument == Argument::Line || opcode->argument == Argument::TwoLines) {
    for (int line = opcode->argument == Argument::Line ? 1 : 2; line > 0; --line) {
      size_t newline = pickle.find('\n', at);
      if (newline == std::string_view::npos) {
        return where + " has no end of line";
      }
      at = newline + 1;
    }
    return std::nullopt;
  }
  if (left < static_cast<uint64_t>(opcode->width)) {
    return where + " needs " + std::to_string(opcode->width) + " bytes, " + std::to_string(left) + " are left";
  }
  uint64_t value = readLittleEndian(pickle, at, opcode->width);
  at += opcode->width;
  const bool signedCount = opcode->width == 4 && (pickle[start] == 'T' || pickle[start] == '\x8b');
  if (signedCount && value > INT32_MAX) {
    return where + " declares a negative length";
  }
  if (opcode->argument == Argument::Counted || opcode->argument == Argument::Frame) {
    if (value > left - opcode->width) {
      return where + " declares " + std::to_string(value) + " bytes, " + std::to_string(left - opcode->width) +
             " are left";
    }
    // A frame's contents are opcodes too: walk on inside it.
    at += opcode->argument == Argument::Counted ? value : 0;
  } else if (opcode->argument == Argument::Memo && value > pickle.size()) {
    // LibTorch's unpickler reserves twice the index in memo slots.
    return where + " names memo slot " + std::to_string(value) + ", past what " + std::to_string(pickle.size()) +
           " bytes can fill";
  }
  return std::nullopt;
}

} // namespace

std::optional<std::string> pickleProblem(std::string_view pickle, bool knownOpcodesOnly) {
  uint64_t at = 0;
  while (at < pickle.size()) {
    const uint64_t start = at;
    const Opcode* opcode = nullptr;
    if (std::optional<std::string> problem = stepOpcode(pickle, at, opcode)) {
      return problem;
    }
    if (opcode == nullptr && knownOpcodesOnly) {
      return "unknown opcode " + std::to_string(static_cast<unsigned char>(pickle[start])) + " at offset " +
             std::to_string(start);
    }
    if (opcode == nullptr || pickle[start] == '.') {
      return std::nullopt;
    }
  }
  return std::nullopt;
}

std::optional<std::vector<PickleOpcode>> pickleOpcodes(std::string_view pickle) {
  std::vector<PickleOpcode> opcodes;
  uint64_t at = 0;
  while (at < pickle.size()) {
    const uint64_t start = at;
    const Opcode* opcode = nullptr;
    if (stepOpcode(pickle, at, opcode) || opcode == nullptr) {
      return std::nullopt;
    }
    opcodes.push_back(PickleOpcode{start, at, static_cast<unsigned char>(pickle[start])});
    if (pickle[start] == '.') {
      return opcodes;
    }
  }
  return std::nullopt;  // No STOP.
}

namespace {

/// A deflated entry's bytes, inflated to exactly its declared size (which
/// readZipDirectory bounded by the deflate ratio; at most 4 GiB), or the
/// problem in words.
std::optional<std::string> inflateEntry(std::string_view bytes, const ZipEntry& entry, std::string& inflated) {
  if (entry.method != 8) {
    return "entry " + shownName(entry.name) + " uses compression method " + std::to_string(entry.method) +
           ", which LibTorch's reader does not read";
  }
  inflated.assign(entry.size, '\0');
  z_stream stream{};
  if (inflateInit2(&stream, -MAX_WBITS) != Z_OK) {  // raw deflate, as in zip files
    return "cannot start zlib";
  }
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data() + entry.dataOffset));
  stream.avail_in = static_cast<uInt>(entry.compressedSize);
  stream.next_out = reinterpret_cast<Bytef*>(inflated.data());
  stream.avail_out = static_cast<uInt>(entry.size);
  const int status = inflate(&stream, Z_FINISH);
  const uint64_t produced = stream.total_out;
  inflateEnd(&stream);
  if (status != Z_STREAM_END || produced != entry.size) {
    return "entry " + shownName(entry.name) + " does not inflate to its declared " + std::to_string(entry.size) +
           " bytes" + (status == Z_DATA_ERROR ? " (damaged deflate data)" : "");
  }
  return std::nullopt;
}

/// Whether zlib, whose counts are 32-bit, can inflate the entry.
bool inflatable(const ZipEntry& entry) { return entry.compressedSize <= UINT_MAX && entry.size <= UINT_MAX; }

/// The bytes of a record, inflated when it is deflated.
std::optional<std::string> recordBytes(std::string_view bytes, const ZipEntry& entry, std::string& record) {
  if (entry.method == 0) {
    record.assign(bytes.substr(entry.dataOffset, entry.size));
    return std::nullopt;
  }
  if (!inflatable(entry)) {
    return "entry " + shownName(entry.name) + " is too large to inflate";
  }
  return inflateEntry(bytes, entry, record);
}

} // namespace

bool isSourceRangeRecord(const std::string& name) { return hasSuffix(name, kSourceRangeRecordSuffix); }

std::optional<std::string> archiveProblem(std::string_view bytes) {
  std::vector<ZipEntry> entries;
  if (auto problem = readZipDirectory(bytes, entries)) {
    return problem;
  }
  for (const ZipEntry& entry : entries) {
    const bool sourceRanges = isSourceRangeRecord(entry.name);
    if (!sourceRanges && !hasSuffix(entry.name, ".pkl")) {
      continue;
    }
    // A deflated record (torch.jit.save deflates code/*.debug_pkl) is walked
    // inflated: its lengths are those of the inflated bytes.
    if (entry.method != 0 && !inflatable(entry)) {
      continue;  // Not a pickle any archive of ours holds.
    }
    std::string record;
    if (auto problem = recordBytes(bytes, entry, record)) {
      return "damaged zip archive: " + *problem;
    }
    // LibTorch reads a .debug_pkl lazily, when it shows a source range, also
    // inside ErrorReport::what(), where an exception ends the process: an
    // opcode it would refuse is refused here (fuzz_archive found one).
    if (auto problem = pickleProblem(record, /*knownOpcodesOnly=*/sourceRanges)) {
      return "damaged pickle record " + shownName(entry.name) + ": " + *problem;
    }
  }
  return std::nullopt;
}

std::optional<uint64_t> stridedExtentBytes(const std::vector<int64_t>& sizes, const std::vector<int64_t>& strides,
                                           int64_t storageOffset, uint64_t elementSize) {
  if (sizes.size() != strides.size() || storageOffset < 0 ||
      std::any_of(sizes.begin(), sizes.end(), [](int64_t size) { return size < 0; })) {
    return std::nullopt;
  }
  if (std::find(sizes.begin(), sizes.end(), 0) != sizes.end()) {
    return 0;
  }
  int64_t lowest = storageOffset;
  int64_t highest = storageOffset;
  for (size_t dim = 0; dim < sizes.size(); ++dim) {
    int64_t reach = 0;
    if (__builtin_mul_overflow(sizes[dim] - 1, strides[dim], &reach) ||
        __builtin_add_overflow(reach < 0 ? lowest : highest, reach, reach < 0 ? &lowest : &highest)) {
      return std::nullopt;
    }
  }
  uint64_t bytes = 0;
  if (lowest < 0 || __builtin_mul_overflow(static_cast<uint64_t>(highest) + 1, elementSize, &bytes)) {
    return std::nullopt;
  }
  return bytes;
}

namespace {

/// A record name as LibTorch's zip reader compares it: its lookup (miniz's
/// mz_zip_reader_locate_file without flags) ignores case.
std::string foldedRecordName(std::string_view name) {
  std::string folded(name);
  std::transform(folded.begin(), folded.end(), folded.begin(),
                 [](char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); });
  return folded;
}

/// Each record's size by its folded name; of records a case-blind lookup
/// cannot tell apart, the smallest. One pass, so that looking up every storage
/// of an archive stays linear in its records.
using RecordSizes = std::unordered_map<std::string, uint64_t>;

RecordSizes recordSizes(const std::vector<ZipEntry>& entries) {
  RecordSizes sizes;
  sizes.reserve(entries.size());
  for (const ZipEntry& entry : entries) {
    auto [slot, inserted] = sizes.emplace(foldedRecordName(entry.name), entry.size);
    if (!inserted) {
      slot->second = std::min(slot->second, entry.size);
    }
  }
  return sizes;
}

/// What the check knows of a storage: stands in for its data (the context of
/// a DataPtr without data), so each tensor of the unpickled value leads to it.
struct StorageRecord {
  std::string name;                  ///< e.g. "data/6", as messages show it.
  std::optional<uint64_t> recordBytes;  ///< Unset: no such record.
};

void deleteStorageRecord(void* record) { delete static_cast<StorageRecord*>(record); }

/// Every class name is a class without attributes: the check needs the
/// state the pickle gives each object, not the archive's code. The type
/// parser asks about a whole type expression first (`Dict[str, Tensor]`):
/// only a dotted name is a class.
struct AnyClassResolver : torch::jit::Resolver {
  explicit AnyClassResolver(std::shared_ptr<torch::jit::CompilationUnit> unit) : unit(std::move(unit)) {}
  c10::TypePtr resolveType(const std::string& name, const torch::jit::SourceRange&) override {
    const bool dottedName = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.';
    });
    return dottedName ? c10::ClassType::create(c10::QualifiedName(name), unit) : nullptr;
  }
  std::shared_ptr<torch::jit::CompilationUnit> unit;
};

std::string shapeText(c10::IntArrayRef values) {
  std::string text;
  for (int64_t value : values) {
    text += (text.empty() ? "" : ", ") + std::to_string(value);
  }
  return "[" + text + "]";
}

/// The problem of one strided tensor with its storage, if any.
std::optional<std::string> storageProblem(const at::Tensor& tensor, const std::string& path) {
  const std::string shown = "tensor " + shownName(path);
  const c10::Storage& storage = tensor.storage();
  const auto* record = storage.data_ptr().get_deleter() == &deleteStorageRecord
                           ? static_cast<const StorageRecord*>(storage.data_ptr().get_context())
                           : nullptr;
  if (record && !record->recordBytes) {
    return shown + ": its storage record " + shownName(record->name) + " is missing";
  }
  // A storage without a record holds no data (LibTorch reads none for 0 elements).
  const uint64_t holds = record ? *record->recordBytes : 0;
  const std::string where = record ? "its storage record " + shownName(record->name) : "its storage";
  std::optional<uint64_t> needs = stridedExtentBytes(tensor.sizes().vec(), tensor.strides().vec(),
                                                     tensor.storage_offset(), tensor.dtype().itemsize());
  if (!needs) {
    return shown + " (sizes " + shapeText(tensor.sizes()) + ", strides " + shapeText(tensor.strides()) +
           ", storage offset " + std::to_string(tensor.storage_offset()) + ") reaches outside any storage";
  }
  if (*needs > holds) {
    return shown + " needs " + std::to_string(*needs) + " bytes, " + where + " holds " + std::to_string(holds);
  }
  // LibTorch copies or saves a storage whole (ExportModule, a CUDA load).
  if (storage.nbytes() > holds) {
    return shown + "'s storage declares " + std::to_string(storage.nbytes()) + " bytes, " + where + " holds " +
           std::to_string(holds);
  }
  return std::nullopt;
}

/// The first tensor of `root` (walked without recursion: a pickle may nest
/// deeply) whose storage does not hold it; paths as attributes are written.
std::optional<std::string> firstStorageProblem(const c10::IValue& root, const std::string& rootPath) {
  std::vector<std::pair<c10::IValue, std::string>> pending{{root, rootPath}};
  while (!pending.empty()) {
    const c10::IValue value = std::move(pending.back().first);
    const std::string path = std::move(pending.back().second);
    pending.pop_back();
    auto element = [&path](size_t index) { return path + "[" + std::to_string(index) + "]"; };
    if (value.isTensor()) {
      const at::Tensor& tensor = value.toTensor();
      if (tensor.is_sparse()) {
        pending.emplace_back(tensor._indices(), path + "._indices()");
        pending.emplace_back(tensor._values(), path + "._values()");
      } else if (tensor.layout() == at::kStrided && tensor.has_storage() && !tensor.is_meta()) {
        if (auto problem = storageProblem(tensor, path)) {
          return problem;
        }
      }
    } else if (value.isTuple()) {
      const auto& elements = value.toTupleRef().elements();
      for (size_t index = 0; index < elements.size(); ++index) {
        pending.emplace_back(elements[index], element(index));
      }
    } else if (value.isList()) {
      const c10::ArrayRef<c10::IValue> elements = value.toListRef();
      for (size_t index = 0; index < elements.size(); ++index) {
        pending.emplace_back(elements[index], element(index));
      }
    } else if (value.isGenericDict()) {
      for (const auto& entry : value.toGenericDict()) {
        const std::string key = entry.key().isString() ? entry.key().toStringRef() : "[" + entry.key().tagKind() + "]";
        pending.emplace_back(entry.key(), path + "[key " + key + "]");
        pending.emplace_back(entry.value(), path.empty() ? key : path + "." + key);
      }
    } else if (value.isObject()) {
      for (const c10::IValue& state : value.toObjectRef().slots()) {  // keepState's: the object's state
        pending.emplace_back(state, path);
      }
    }
  }
  return std::nullopt;
}

/// The value of `<name>.pkl` as LibTorch's unpickler builds it, but each
/// object an empty one holding the state the pickle gives it (no
/// __setstate__ runs) and each storage a StorageRecord of `<name>/KEY`
/// (sized from `sizes`) instead of its data.
c10::IValue unpickleWithoutData(const std::string& pickle, const std::string& name, const std::string& prefix,
                                const RecordSizes& sizes) {
  auto unit = std::make_shared<torch::jit::CompilationUnit>();
  auto resolver = std::make_shared<AnyClassResolver>(unit);
  auto resolveType = [&](const c10::QualifiedName& qualified) {
    // Class names and, for container type tags, type expressions.
    return c10::StrongTypePtr(unit, torch::jit::ScriptTypeParser(resolver).parseType(qualified.qualifiedName()));
  };
  auto keepState = [](const c10::StrongTypePtr& type, c10::IValue state) {
    auto object = c10::ivalue::Object::create(type, 1);
    object->setSlot(0, std::move(state));
    return object;
  };
  auto readRecord = [&](const std::string& key) {
    auto record = std::make_unique<StorageRecord>();
    record->name = name + "/" + key;
    const auto size = sizes.find(foldedRecordName(prefix + record->name));
    if (size != sizes.end()) {
      record->recordBytes = size->second;
    }
    return at::DataPtr(nullptr, record.release(), &deleteStorageRecord, at::Device(at::kCPU));
  };
  size_t read = 0;
  auto reader = [&](char* buffer, size_t length) -> size_t {
    length = std::min(length, pickle.size() - read);
    std::memcpy(buffer, pickle.data() + read, length);
    read += length;
    return length;
  };
  // Every storage on the CPU: LibTorch's loader copies one saved from a GPU
  // there, whole, which is one of the reads this check guards.
  torch::jit::Unpickler unpickler(reader, resolveType, keepState, readRecord, at::Device(at::kCPU));
  return unpickler.parse_ivalue();
}

} // namespace

std::optional<std::string> tensorStorageProblem(std::string_view bytes, const std::vector<std::string>& pickles) {
  std::vector<ZipEntry> entries;
  if (auto problem = readZipDirectory(bytes, entries)) {
    return problem;
  }
  if (entries.empty()) {
    return std::nullopt;
  }
  // LibTorch's reader takes the first entry's folder as the archive's name,
  // and looks every record up inside it.
  const std::string prefix = entries.front().name.substr(0, entries.front().name.find('/') + 1);
  const RecordSizes sizes = recordSizes(entries);
  for (const std::string& name : pickles) {
    const std::string pickleName = foldedRecordName(prefix + name + ".pkl");
    const auto entry = std::find_if(entries.begin(), entries.end(), [&](const ZipEntry& candidate) {
      return foldedRecordName(candidate.name) == pickleName;
    });
    if (entry == entries.end()) {
      continue;  // LibTorch's loader reports a missing record.
    }
    std::string pickle;
    if (auto problem = recordBytes(bytes, *entry, pickle)) {
      return "damaged zip archive: " + *problem;
    }
    c10::IValue value;
    try {
      value = unpickleWithoutData(pickle, name, prefix, sizes);
    } catch (const std::exception& error) {
      return "damaged pickle record " + shownName(entry->name) + ": " + firstLine(error.what());
    }
    if (auto problem = firstStorageProblem(value, name == "data" ? "" : name)) {
      return problem;
    }
  }
  return std::nullopt;
}

} // namespace tsopt
