//===- bytes_read_adapter.h - LibTorch's archive reader over bytes in memory -===//
///
/// torch::jit::load and caffe2::serialize::PyTorchStreamReader read an archive
/// through a ReadAdapterInterface. Handing them an std::istringstream copies
/// the archive first: a 400 MB model was in memory once more for each reader.
/// This adapter reads the caller's bytes in place; they must outlive it.
///
//===----------------------------------------------------------------------===//
#pragma once

#include <caffe2/serialize/read_adapter_interface.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

namespace tsopt {

class BytesReadAdapter : public caffe2::serialize::ReadAdapterInterface {
public:
  explicit BytesReadAdapter(const std::string& bytes) : bytes_(bytes) {}

  size_t size() const override { return bytes_.size(); }

  size_t read(uint64_t pos, void* buf, size_t n, const char* /*what*/ = "") const override {
    if (pos >= bytes_.size()) {
      return 0;
    }
    const size_t count = std::min<size_t>(n, bytes_.size() - static_cast<size_t>(pos));
    std::memcpy(buf, bytes_.data() + pos, count);
    return count;
  }

private:
  const std::string& bytes_;
};

/// A reader of `bytes` (which must outlive it) for LibTorch.
inline std::shared_ptr<BytesReadAdapter> readerOf(const std::string& bytes) {
  return std::make_shared<BytesReadAdapter>(bytes);
}

/// Reads the first `headSize` bytes of `head`, then `tail`, as one file (both
/// must outlive it): an archive with records replaced (zipTailReplacing)
/// without a copy of the records it keeps.
class SplicedReadAdapter : public caffe2::serialize::ReadAdapterInterface {
public:
  SplicedReadAdapter(const std::string& head, uint64_t headSize, const std::string& tail)
      : head_(head), headSize_(std::min<uint64_t>(headSize, head.size())), tail_(tail) {}

  size_t size() const override { return static_cast<size_t>(headSize_) + tail_.size(); }

  size_t read(uint64_t pos, void* buf, size_t n, const char* /*what*/ = "") const override {
    size_t done = 0;
    auto* out = static_cast<char*>(buf);
    if (pos < headSize_) {
      done = static_cast<size_t>(std::min<uint64_t>(n, headSize_ - pos));
      std::memcpy(out, head_.data() + pos, done);
    }
    const uint64_t tailPos = pos + done - headSize_;
    if (done < n && tailPos < tail_.size()) {
      const size_t count = std::min<size_t>(n - done, tail_.size() - static_cast<size_t>(tailPos));
      std::memcpy(out + done, tail_.data() + tailPos, count);
      done += count;
    }
    return done;
  }

private:
  const std::string& head_;
  uint64_t headSize_;
  const std::string& tail_;
};

} // namespace tsopt
