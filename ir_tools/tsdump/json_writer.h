//===- json_writer.h - Minimal streaming JSON output -----------------------===//
///
/// What tsdump needs to emit JSON that any parser accepts: objects, arrays,
/// strings, numbers, booleans and null, indented two spaces per level. The
/// writer places commas and colons itself, so callers only say what comes next.
/// It never reads JSON, and it does not check that every object is closed.
///
//===----------------------------------------------------------------------===//
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace tsopt {

/// `text` as a quoted JSON string: quotes, backslashes and control characters
/// are escaped, and bytes that are not valid UTF-8 become U+FFFD, so the
/// output parses even when an IR string attribute holds binary data.
std::string jsonQuote(const std::string& text);

class JsonWriter {
public:
  explicit JsonWriter(std::ostream& out) : out_(out) {}

  JsonWriter& beginObject();
  JsonWriter& endObject();
  JsonWriter& beginArray();
  JsonWriter& endArray();
  /// The key of the next member; the value follows with one of the calls below.
  JsonWriter& key(const std::string& name);

  JsonWriter& value(const std::string& text);
  JsonWriter& value(const char* text) { return value(std::string(text)); }
  JsonWriter& value(int64_t number);
  JsonWriter& value(uint64_t number);
  JsonWriter& value(int number) { return value(static_cast<int64_t>(number)); }
  /// NaN and infinities, which JSON cannot spell, are written as null.
  JsonWriter& value(double number);
  JsonWriter& value(bool flag);
  JsonWriter& null();

  /// key(name) followed by value(v).
  template <typename T> JsonWriter& member(const std::string& name, const T& v) {
    key(name);
    return value(v);
  }

private:
  void beforeValue();
  void open(char bracket);
  void close(char bracket);

  std::ostream& out_;
  /// One entry per open object or array: whether it has members yet.
  std::vector<bool> hasMembers_;
  bool afterKey_ = false;
};

} // namespace tsopt
