#include "ir_tools/tsdump/json_writer.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace tsopt {
namespace {

/// Length of the well-formed UTF-8 sequence starting at `text[at]`, or 0 when
/// the bytes there are not one (overlong forms and surrogates included).
size_t utf8SequenceLength(const std::string& text, size_t at) {
  auto byte = [&](size_t index) { return static_cast<unsigned char>(text[index]); };
  unsigned char lead = byte(at);
  size_t length;
  unsigned char low = 0x80, high = 0xBF;  // Range of the second byte.
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    low = lead == 0xE0 ? 0xA0 : 0x80;
    high = lead == 0xED ? 0x9F : 0xBF;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    low = lead == 0xF0 ? 0x90 : 0x80;
    high = lead == 0xF4 ? 0x8F : 0xBF;
  } else {
    return 0;
  }
  if (at + length > text.size() || byte(at + 1) < low || byte(at + 1) > high) {
    return 0;
  }
  for (size_t index = at + 2; index < at + length; ++index) {
    if (byte(index) < 0x80 || byte(index) > 0xBF) {
      return 0;
    }
  }
  return length;
}

} // namespace

std::string jsonQuote(const std::string& text) {
  std::string quoted = "\"";
  for (size_t at = 0; at < text.size();) {
    unsigned char c = static_cast<unsigned char>(text[at]);
    if (c >= 0x80) {
      size_t length = utf8SequenceLength(text, at);
      if (length == 0) {
        quoted += "\\ufffd";
        ++at;
      } else {
        quoted.append(text, at, length);
        at += length;
      }
      continue;
    }
    switch (c) {
    case '"':
      quoted += "\\\"";
      break;
    case '\\':
      quoted += "\\\\";
      break;
    case '\b':
      quoted += "\\b";
      break;
    case '\f':
      quoted += "\\f";
      break;
    case '\n':
      quoted += "\\n";
      break;
    case '\r':
      quoted += "\\r";
      break;
    case '\t':
      quoted += "\\t";
      break;
    default:
      if (c < 0x20 || c == 0x7F) {
        char escape[8];
        std::snprintf(escape, sizeof(escape), "\\u%04x", c);
        quoted += escape;
      } else {
        quoted += static_cast<char>(c);
      }
    }
    ++at;
  }
  return quoted + "\"";
}

void JsonWriter::beforeValue() {
  if (afterKey_) {
    afterKey_ = false;
    return;
  }
  if (!hasMembers_.empty()) {
    out_ << (hasMembers_.back() ? ",\n" : "\n") << std::string(2 * hasMembers_.size(), ' ');
    hasMembers_.back() = true;
  }
}

void JsonWriter::open(char bracket) {
  beforeValue();
  out_ << bracket;
  hasMembers_.push_back(false);
}

void JsonWriter::close(char bracket) {
  bool hadMembers = hasMembers_.back();
  hasMembers_.pop_back();
  if (hadMembers) {
    out_ << "\n" << std::string(2 * hasMembers_.size(), ' ');
  }
  out_ << bracket;
  if (hasMembers_.empty()) {
    out_ << "\n";
  }
}

JsonWriter& JsonWriter::beginObject() {
  open('{');
  return *this;
}

JsonWriter& JsonWriter::endObject() {
  close('}');
  return *this;
}

JsonWriter& JsonWriter::beginArray() {
  open('[');
  return *this;
}

JsonWriter& JsonWriter::endArray() {
  close(']');
  return *this;
}

JsonWriter& JsonWriter::key(const std::string& name) {
  beforeValue();
  out_ << jsonQuote(name) << ": ";
  afterKey_ = true;
  return *this;
}

JsonWriter& JsonWriter::value(const std::string& text) {
  beforeValue();
  out_ << jsonQuote(text);
  return *this;
}

JsonWriter& JsonWriter::value(int64_t number) {
  beforeValue();
  out_ << number;
  return *this;
}

JsonWriter& JsonWriter::value(uint64_t number) {
  beforeValue();
  out_ << number;
  return *this;
}

JsonWriter& JsonWriter::value(double number) {
  if (!std::isfinite(number)) {
    return null();
  }
  beforeValue();
  // The shortest of %.15g..%.17g that reads back as the same double.
  char text[32];
  for (int precision = 15; precision <= 17; ++precision) {
    std::snprintf(text, sizeof(text), "%.*g", precision, number);
    if (std::strtod(text, nullptr) == number) {
      break;
    }
  }
  std::string spelled = text;
  // "%g" prints 1.0 as "1": keep it a float for readers that care.
  if (spelled.find_first_of(".eE") == std::string::npos) {
    spelled += ".0";
  }
  out_ << spelled;
  return *this;
}

JsonWriter& JsonWriter::value(bool flag) {
  beforeValue();
  out_ << (flag ? "true" : "false");
  return *this;
}

JsonWriter& JsonWriter::null() {
  beforeValue();
  out_ << "null";
  return *this;
}

} // namespace tsopt
