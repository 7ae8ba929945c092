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

} // namespace tsopt
