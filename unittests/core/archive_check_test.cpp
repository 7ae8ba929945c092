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

TEST(ArchiveCheckTest, StridedExtentBytes) {
  EXPECT_EQ(stridedExtentBytes({2, 3}, {3, 1}, 0, 4), 24u);
  EXPECT_EQ(stridedExtentBytes({2, 3}, {3, 1}, 5, 4), 44u);
  EXPECT_EQ(stridedExtentBytes({}, {}, 2, 8), 24u) << "a scalar: one element past its offset";
  EXPECT_EQ(stridedExtentBytes({4, 4}, {0, 0}, 0, 4), 4u) << "an expanded tensor reaches one element";
  EXPECT_EQ(stridedExtentBytes({0, 3}, {-7, 1 << 30}, 99, 4), 0u) << "no element, no bytes";
  EXPECT_EQ(stridedExtentBytes({3}, {-2}, 4, 4), 20u) << "a negative stride down to element 0";
  EXPECT_EQ(stridedExtentBytes({3}, {-2}, 3, 4), std::nullopt) << "an element before the storage";
  EXPECT_EQ(stridedExtentBytes({-1}, {1}, 0, 4), std::nullopt);
  EXPECT_EQ(stridedExtentBytes({1}, {1}, -1, 4), std::nullopt);
  EXPECT_EQ(stridedExtentBytes({2}, {1}, 0, 4).value_or(0), 8u);
  EXPECT_EQ(stridedExtentBytes({2}, {1}, 0, 4), stridedExtentBytes({2, 1}, {1, 1234}, 0, 4)) << "size 1: any stride";
  const int64_t huge = int64_t(1) << 62;
  EXPECT_EQ(stridedExtentBytes({3}, {huge}, 0, 1), std::nullopt) << "(3 - 1) * 2^62 overflows";
  EXPECT_EQ(stridedExtentBytes({2, 2}, {huge, huge}, 0, 1), std::nullopt) << "2^62 + 2^62 overflows";
  EXPECT_EQ(stridedExtentBytes({2}, {huge}, 0, 4), std::nullopt) << "the byte count overflows";
  EXPECT_EQ(stridedExtentBytes({2}, {huge}, 0, 1), uint64_t(huge) + 1);
}

/// The stored files of a zip archive LibTorch wrote, with `name`'s bytes
/// replaced; its deflated code files are left out (the check reads none).
std::string withRecord(const std::string& archive, const std::string& name, const std::string& data) {
  std::vector<ZipEntry> entries;
  EXPECT_EQ(readZipDirectory(archive, entries), std::nullopt);
  Files files;
  for (const ZipEntry& entry : entries) {
    if (entry.method != 0) {
      continue;
    }
    files.emplace_back(entry.name, entry.name == name ? data : archive.substr(entry.dataOffset, entry.size));
  }
  return HandMadeZip(files).bytes;
}

std::string pickled(std::vector<c10::IValue> elements) {
  std::vector<char> bytes = torch::jit::pickle_save(c10::ivalue::Tuple::create(std::move(elements)));
  return std::string(bytes.data(), bytes.size());
}

TEST(ArchiveCheckTest, TensorsFitTheirStorageRecords) {
  const std::string sound = pickled({at::arange(4, at::kFloat), at::empty({0, 3}), at::ones({2, 3}).t()});
  EXPECT_EQ(tensorStorageProblem(sound, {"data"}), std::nullopt);
  EXPECT_EQ(tensorStorageProblem(withRecord(sound, "archive/data/0", std::string(16, '\0')), {"data"}), std::nullopt)
      << "the archive rebuilt as it was";
  // The open finding's shape: a storage record shorter than the tensor.
  EXPECT_EQ(tensorStorageProblem(withRecord(sound, "archive/data/0", std::string(8, '\0')), {"data"}),
            "tensor '[0]' needs 16 bytes, its storage record 'data/0' holds 8");
  EXPECT_EQ(tensorStorageProblem(withRecord(sound, "archive/data/2", std::string(20, '\0')), {"data"}),
            "tensor '[2]' needs 24 bytes, its storage record 'data/2' holds 20");
  // A view reaching less than its storage: the storage is still saved whole.
  const std::string view = pickled({at::arange(4, at::kFloat).slice(0, 0, 2)});
  EXPECT_EQ(tensorStorageProblem(withRecord(view, "archive/data/0", std::string(8, '\0')), {"data"}),
            "tensor '[0]''s storage declares 16 bytes, its storage record 'data/0' holds 8");
  EXPECT_EQ(tensorStorageProblem(withRecord(view, "archive/data/0", "x"), {"data"}),
            "tensor '[0]' needs 8 bytes, its storage record 'data/0' holds 1");
  std::string renamed = sound;
  renamed.replace(renamed.rfind("archive/data/0"), 14, "archive/data/9");
  EXPECT_EQ(tensorStorageProblem(renamed, {"data"}), "tensor '[0]': its storage record 'data/0' is missing");
}

TEST(ArchiveCheckTest, ModuleTensorsFitTheirStorageRecords) {
  torch::jit::Module module("m");
  module.register_parameter("weight", at::ones({4}), false);
  c10::impl::GenericDict table(c10::StringType::get(), c10::TensorType::get());
  table.insert("row", at::zeros({3}));
  module.register_attribute("table", c10::DictType::create(c10::StringType::get(), c10::TensorType::get()), table);
  torch::jit::Module child("c");
  child.register_buffer("mean", at::zeros({2, 2}));
  module.register_module("child", child);
  module.define("def forward(self, x):\n  return x + self.weight\n");
  std::ostringstream saved;
  module.save(saved);
  const std::string archive = saved.str();
  EXPECT_EQ(tensorStorageProblem(archive, {"constants", "data"}), std::nullopt);
  for (const auto& [record, problem] : std::vector<std::pair<std::string, std::string>>{
           {"data/0", "tensor 'weight' needs 16 bytes, its storage record 'data/0' holds 1"},
           {"data/1", "tensor 'table.row' needs 12 bytes, its storage record 'data/1' holds 1"},
           {"data/2", "tensor 'child.mean' needs 16 bytes, its storage record 'data/2' holds 1"}}) {
    EXPECT_EQ(tensorStorageProblem(withRecord(archive, "archive/" + record, "x"), {"constants", "data"}), problem);
  }
  // Freezing makes the weight a tensor constant of the code (constants.pkl).
  module.eval();
  std::ostringstream frozen;
  torch::jit::freeze(module).save(frozen);
  EXPECT_EQ(tensorStorageProblem(frozen.str(), {"constants", "data"}), std::nullopt);
  EXPECT_EQ(tensorStorageProblem(withRecord(frozen.str(), "archive/constants/0", "x"), {"constants", "data"}),
            "tensor 'constants[0]' needs 16 bytes, its storage record 'constants/0' holds 1");
}

} // namespace
} // namespace tsopt
