#include "passes/core/archive_check.h"

#include <ATen/ATen.h>
#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/serialization/pickle.h>

#include <gtest/gtest.h>

#include <sstream>

namespace tsopt {
namespace {

void putLittleEndian(std::string& bytes, size_t at, uint64_t value, int width) {
  for (int index = 0; index < width; ++index) {
    bytes[at + index] = static_cast<char>((value >> (8 * index)) & 0xff);
  }
}

std::string littleEndian(uint64_t value, int width) {
  std::string bytes(width, '\0');
  putLittleEndian(bytes, 0, value, width);
  return bytes;
}

using Files = std::vector<std::pair<std::string, std::string>>;

/// A zip archive of stored files, laid out as torch.save writes one, and
/// where each of its records starts, for tests that damage a field.
struct HandMadeZip {
  std::string bytes;
  std::vector<size_t> localHeaders;
  std::vector<size_t> centralHeaders;
  size_t endOfDirectory = 0;

  explicit HandMadeZip(const Files& files, bool zip64 = false) {
    for (const auto& [name, data] : files) {
      localHeaders.push_back(bytes.size());
      bytes += littleEndian(0x04034b50, 4) + littleEndian(20, 2) + littleEndian(0, 2) + littleEndian(0, 2) +
               littleEndian(0, 4) + littleEndian(0, 4) + littleEndian(data.size(), 4) +
               littleEndian(data.size(), 4) + littleEndian(name.size(), 2) + littleEndian(0, 2) + name + data;
    }
    const size_t directory = bytes.size();
    for (size_t index = 0; index < files.size(); ++index) {
      const auto& [name, data] = files[index];
      centralHeaders.push_back(bytes.size());
      bytes += littleEndian(0x02014b50, 4) + littleEndian(20, 2) + littleEndian(20, 2) + littleEndian(0, 2) +
               littleEndian(0, 2) + littleEndian(0, 4) + littleEndian(0, 4) + littleEndian(data.size(), 4) +
               littleEndian(data.size(), 4) + littleEndian(name.size(), 2) + littleEndian(0, 2) +
               littleEndian(0, 2) + littleEndian(0, 2) + littleEndian(0, 2) + littleEndian(0, 4) +
               littleEndian(localHeaders[index], 4) + name;
    }
    const size_t directorySize = bytes.size() - directory;
    if (zip64) {
      const size_t record = bytes.size();
      bytes += littleEndian(0x06064b50, 4) + littleEndian(44, 8) + littleEndian(45, 2) + littleEndian(45, 2) +
               littleEndian(0, 4) + littleEndian(0, 4) + littleEndian(files.size(), 8) +
               littleEndian(files.size(), 8) + littleEndian(directorySize, 8) + littleEndian(directory, 8);
      bytes += littleEndian(0x07064b50, 4) + littleEndian(0, 4) + littleEndian(record, 8) + littleEndian(1, 4);
    }
    endOfDirectory = bytes.size();
    bytes += littleEndian(0x06054b50, 4) + littleEndian(0, 2) + littleEndian(0, 2) +
             littleEndian(files.size(), 2) + littleEndian(files.size(), 2) + littleEndian(directorySize, 4) +
             littleEndian(zip64 ? 0xffffffff : directory, 4) + littleEndian(0, 2);
  }
};

/// A pickle of protocol 2 holding one string, as torch.save writes data.pkl.
std::string stringPickle(const std::string& text) {
  return std::string("\x80\x02X", 3) + littleEndian(text.size(), 4) + text + std::string("q\x00.", 3);
}

std::optional<std::string> zipProblem(const std::string& bytes) {
  std::vector<ZipEntry> entries;
  return readZipDirectory(bytes, entries);
}

TEST(ArchiveCheckTest, HandMadeArchivesPass) {
  for (bool zip64 : {false, true}) {
    HandMadeZip zip(Files{{"archive/data.pkl", stringPickle("hello")}, {"archive/version", "3\n"}}, zip64);
    std::vector<ZipEntry> entries;
    EXPECT_EQ(readZipDirectory(zip.bytes, entries), std::nullopt) << zip64;
    ASSERT_EQ(entries.size(), 2u);
    EXPECT_EQ(entries[1].name, "archive/version");
    EXPECT_EQ(zip.bytes.substr(entries[1].dataOffset, entries[1].compressedSize), "3\n");
    EXPECT_EQ(archiveProblem(zip.bytes), std::nullopt);
  }
}

TEST(ArchiveCheckTest, ArchivesLibTorchWritesPass) {
  torch::jit::Module module("m");
  module.register_parameter("weight", at::ones({4, 4}), false);
  module.define("def forward(self, x):\n  return x + self.weight\n");
  std::ostringstream saved;
  module.save(saved);
  EXPECT_EQ(archiveProblem(saved.str()), std::nullopt);
  std::vector<c10::IValue> elements{at::ones({2, 3}), int64_t(7)};
  std::vector<char> pickled = torch::jit::pickle_save(c10::ivalue::Tuple::create(std::move(elements)));
  EXPECT_EQ(archiveProblem(std::string_view(pickled.data(), pickled.size())), std::nullopt);
}

TEST(ArchiveCheckTest, EndOfDirectoryProblems) {
  EXPECT_EQ(zipProblem("PK\x03\x04 not a zip"), "not a zip archive (no end-of-central-directory record)");
  HandMadeZip zip(Files{{"a", "x"}});
  std::string bytes = zip.bytes;
  putLittleEndian(bytes, zip.endOfDirectory + 16, 0xfffffff0, 4);
  EXPECT_EQ(zipProblem(bytes), "damaged zip archive: central directory extends past the end of the file "
                               "(offset 4294967280, size 47)");
  bytes = zip.bytes;
  putLittleEndian(bytes, zip.endOfDirectory + 10, 2, 2);
  EXPECT_EQ(zipProblem(bytes), "damaged zip archive: the central directory counts 2 entries in all and 1 on this disk");
  putLittleEndian(bytes, zip.endOfDirectory + 8, 2, 2);
  EXPECT_EQ(zipProblem(bytes), "damaged zip archive: a central directory of 47 bytes cannot hold 2 entries");
  bytes = zip.bytes;
  putLittleEndian(bytes, zip.endOfDirectory + 4, 3, 2);
  EXPECT_EQ(zipProblem(bytes), "damaged zip archive: the archive spans disks (3 and 0)");
}

TEST(ArchiveCheckTest, Zip64Problems) {
  HandMadeZip zip(Files{{"a", "x"}}, /*zip64=*/true);
  const size_t locator = zip.endOfDirectory - 20;
  const size_t record = locator - 56;
  std::string bytes = zip.bytes;
  // The offset that made miniz read before its buffer: offset + size wraps around.
  putLittleEndian(bytes, record + 48, 0xffffffffffffff00, 8);
  EXPECT_EQ(zipProblem(bytes), "damaged zip archive: central directory extends past the end of the file "
                               "(offset 18446744073709551360, size 47)");
  bytes = zip.bytes;
  putLittleEndian(bytes, locator + 8, bytes.size(), 8);
  EXPECT_EQ(zipProblem(bytes), "damaged zip archive: ZIP64 end-of-central-directory record lies past the end of "
                               "the file (offset " + std::to_string(bytes.size()) + ")");
  bytes = zip.bytes;
  putLittleEndian(bytes, locator + 16, 2, 4);
  EXPECT_EQ(zipProblem(bytes), "damaged zip archive: ZIP64 locator names 2 disks, not 1");
  bytes = zip.bytes;
  putLittleEndian(bytes, record + 4, 8, 8);
  EXPECT_EQ(zipProblem(bytes), "damaged zip archive: ZIP64 end-of-central-directory record is too short");
  bytes = zip.bytes;
  putLittleEndian(bytes, record + 32, uint64_t(1) << 33, 8);
  putLittleEndian(bytes, record + 24, uint64_t(1) << 33, 8);
  EXPECT_EQ(zipProblem(bytes), "damaged zip archive: ZIP64 central directory of 8589934592 entries and 47 bytes is "
                               "past miniz's limits");
}

TEST(ArchiveCheckTest, EntryProblems) {
  HandMadeZip zip(Files{{"a", "x"}, {"b\x01", "yz"}});
  const size_t second = zip.centralHeaders[1];
  std::string bytes = zip.bytes;
  bytes[second] = 'X';
  EXPECT_EQ(zipProblem(bytes), "damaged zip archive: central directory entry 1 (offset " + std::to_string(second) +
                                   ") has no entry header");
  bytes = zip.bytes;
  putLittleEndian(bytes, second + 28, 200, 2);
  EXPECT_EQ(zipProblem(bytes), "damaged zip archive: central directory entry 1 (offset " + std::to_string(second) +
                                   ") extends past the central directory (246 bytes)");
  bytes = zip.bytes;
  putLittleEndian(bytes, second + 20, 1, 4);
  EXPECT_EQ(zipProblem(bytes), "damaged zip archive: entry 'b?' is stored, yet its sizes differ (1 and 2 bytes)");
  putLittleEndian(bytes, second + 10, 8, 2);
  putLittleEndian(bytes, second + 24, 5000, 4);
  EXPECT_EQ(zipProblem(bytes), "damaged zip archive: entry 'b?' declares 5000 bytes from 1 compressed, more than "
                               "deflate expands");
  bytes = zip.bytes;
  putLittleEndian(bytes, second + 34, 5, 2);
  EXPECT_EQ(zipProblem(bytes), "damaged zip archive: entry 'b?' is on disk 5");
  bytes = zip.bytes;
  putLittleEndian(bytes, second + 42, 0, 4);
  EXPECT_EQ(zipProblem(bytes), std::nullopt) << "the first local header, valid if wrong";
  putLittleEndian(bytes, second + 42, 3, 4);
  EXPECT_EQ(zipProblem(bytes), "damaged zip archive: entry 'b?' has no local header at offset 3");
  putLittleEndian(bytes, second + 42, 0xffffffff, 4);
  EXPECT_EQ(zipProblem(bytes), "damaged zip archive: entry 'b?' has no local header at offset 4294967295");
  bytes = zip.bytes;
  putLittleEndian(bytes, zip.localHeaders[1] + 28, 0xffff, 2);
  EXPECT_EQ(zipProblem(bytes), "damaged zip archive: data of entry 'b?' extends past the end of the file (offset " +
                                   std::to_string(zip.localHeaders[1] + 30 + 2 + 0xffff) + ", size 2)");
}

TEST(ArchiveCheckTest, Zip64ExtraFieldOfAnEntry) {
  // An entry whose sizes live in its ZIP64 extra field: sizes 1 (valid), then 1000.
  HandMadeZip zip(Files{{"a", "x"}});
  const size_t entry = zip.centralHeaders[0];
  std::string extra = littleEndian(1, 2) + littleEndian(16, 2) + littleEndian(1, 8) + littleEndian(1, 8);
  std::string bytes = zip.bytes;
  putLittleEndian(bytes, entry + 20, 0xffffffff, 4);
  putLittleEndian(bytes, entry + 24, 0xffffffff, 4);
  putLittleEndian(bytes, entry + 30, extra.size(), 2);
  bytes.insert(entry + 47, extra);
  putLittleEndian(bytes, zip.endOfDirectory + extra.size() + 12, 47 + extra.size(), 4);
  EXPECT_EQ(zipProblem(bytes), std::nullopt);
  std::string longer = bytes;
  putLittleEndian(longer, entry + 47 + 4, 1000, 8);
  putLittleEndian(longer, entry + 47 + 12, 1000, 8);
  EXPECT_EQ(zipProblem(longer), "damaged zip archive: data of entry 'a' extends past the end of the file (offset 31, "
                                "size 1000)");
  std::string shortField = bytes;
  putLittleEndian(shortField, entry + 47 + 2, 8, 2);
  EXPECT_EQ(zipProblem(shortField), "damaged zip archive: ZIP64 extra field of entry 'a' is too short");
  std::string pastHeader = bytes;
  putLittleEndian(pastHeader, entry + 47 + 2, 17, 2);
  EXPECT_EQ(zipProblem(pastHeader), "damaged zip archive: extra field of entry 'a' extends past its header");
}

TEST(ArchiveCheckTest, PickleLengths) {
  EXPECT_EQ(pickleProblem(stringPickle("hello")), std::nullopt);
  std::string pickle = stringPickle("hello");
  putLittleEndian(pickle, 3, 0xfffffffe, 4);
  EXPECT_EQ(pickleProblem(pickle), "BINUNICODE at offset 2 declares 4294967294 bytes, 8 are left");
  EXPECT_EQ(pickleProblem(std::string("\x80\x04\x95", 3) + littleEndian(100, 8) + "N."),
            "FRAME at offset 2 declares 100 bytes, 2 are left");
  EXPECT_EQ(pickleProblem(std::string("\x80\x04\x95", 3) + littleEndian(2, 8) + "N."), std::nullopt);
  EXPECT_EQ(pickleProblem(std::string("\x8e", 1) + littleEndian(uint64_t(1) << 40, 8) + "."),
            "BINBYTES8 at offset 0 declares 1099511627776 bytes, 1 are left");
  EXPECT_EQ(pickleProblem(std::string("C\x05" "abc", 5)), "SHORT_BINBYTES at offset 0 declares 5 bytes, 3 are left");
  EXPECT_EQ(pickleProblem(std::string("T\xff\xff\xff\xff", 5)), "BINSTRING at offset 0 declares a negative length");
  EXPECT_EQ(pickleProblem(std::string("\x8b\x01\x00\x00\x00\x05.", 7)), std::nullopt);
  EXPECT_EQ(pickleProblem(std::string("J\x01\x02", 3)), "BININT at offset 0 needs 4 bytes, 2 are left");
  EXPECT_EQ(pickleProblem("ctorch\n_utils"), "GLOBAL at offset 0 has no end of line");
  EXPECT_EQ(pickleProblem("ctorch\n_utils\n."), std::nullopt);
  EXPECT_EQ(pickleProblem(std::string("N", 1) + "r" + littleEndian(0x7fffffff, 4) + "."),
            "LONG_BINPUT at offset 1 names memo slot 2147483647, past what 7 bytes can fill");
  // Nothing after STOP, or after an opcode LibTorch refuses, is read.
  EXPECT_EQ(pickleProblem(std::string(".X\xff\xff\xff\xff", 6)), std::nullopt);
  EXPECT_EQ(pickleProblem(std::string("\xffX\xff\xff\xff\xff", 6)), std::nullopt);
}

TEST(ArchiveCheckTest, PickleRecordsOfAnArchive) {
  std::string pickle = stringPickle("hello");
  putLittleEndian(pickle, 3, 0xfffffffe, 4);
  HandMadeZip zip(Files{{"archive/data.pkl", pickle}, {"archive/data/0", pickle}});
  EXPECT_EQ(archiveProblem(zip.bytes), "damaged pickle record 'archive/data.pkl': BINUNICODE at offset 2 declares "
                                       "4294967294 bytes, 8 are left");
  HandMadeZip tensorsOnly(Files{{"archive/data.pkl", stringPickle("x")}, {"archive/data/0", pickle}});
  EXPECT_EQ(archiveProblem(tensorsOnly.bytes), std::nullopt) << "a tensor's bytes are no pickle";
}

} // namespace
} // namespace tsopt
