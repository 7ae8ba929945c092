#include "ir_tools/tsdump/json_writer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <sstream>

namespace tsopt {
namespace {

TEST(JsonWriterTest, QuotesAndBackslashes) {
  EXPECT_EQ(jsonQuote(""), "\"\"");
  EXPECT_EQ(jsonQuote("say \"hi\""), "\"say \\\"hi\\\"\"");
  EXPECT_EQ(jsonQuote("C:\\path"), "\"C:\\\\path\"");
  EXPECT_EQ(jsonQuote("a/b"), "\"a/b\"");
}

TEST(JsonWriterTest, ControlCharacters) {
  EXPECT_EQ(jsonQuote("\b\f\n\r\t"), "\"\\b\\f\\n\\r\\t\"");
  EXPECT_EQ(jsonQuote(std::string("\x01\x1f\x7f", 3)), "\"\\u0001\\u001f\\u007f\"");
  EXPECT_EQ(jsonQuote(std::string("a\0b", 3)), "\"a\\u0000b\"");
}

TEST(JsonWriterTest, ValidUtf8PassesThrough) {
  EXPECT_EQ(jsonQuote("caf\xc3\xa9"), "\"caf\xc3\xa9\"");
  EXPECT_EQ(jsonQuote("\xe2\x82\xac"), "\"\xe2\x82\xac\"");           // Euro sign.
  EXPECT_EQ(jsonQuote("\xf0\x9f\x98\x80"), "\"\xf0\x9f\x98\x80\"");  // U+1F600.
}

TEST(JsonWriterTest, InvalidUtf8BecomesReplacementCharacters) {
  EXPECT_EQ(jsonQuote("\xff"), "\"\\ufffd\"");
  EXPECT_EQ(jsonQuote("\x80x"), "\"\\ufffdx\"");                  // Lone continuation byte.
  EXPECT_EQ(jsonQuote("\xe2\x82"), "\"\\ufffd\\ufffd\"");         // Truncated sequence.
  EXPECT_EQ(jsonQuote("\xc0\xaf"), "\"\\ufffd\\ufffd\"");         // Overlong '/'.
  EXPECT_EQ(jsonQuote("\xed\xa0\x80"), "\"\\ufffd\\ufffd\\ufffd\"");  // UTF-16 surrogate.
  EXPECT_EQ(jsonQuote("\xf4\x90\x80\x80"), "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");  // Above U+10FFFF.
}

TEST(JsonWriterTest, NestedDocumentIsIndented) {
  std::ostringstream text;
  JsonWriter json(text);
  json.beginObject().member("name", "x").key("sizes").beginArray().value(1).value(int64_t{-2}).endArray();
  json.key("empty").beginObject().endObject().key("none").beginArray().endArray();
  json.member("ok", true).key("missing").null().endObject();
  EXPECT_EQ(text.str(), "{\n"
                        "  \"name\": \"x\",\n"
                        "  \"sizes\": [\n"
                        "    1,\n"
                        "    -2\n"
                        "  ],\n"
                        "  \"empty\": {},\n"
                        "  \"none\": [],\n"
                        "  \"ok\": true,\n"
                        "  \"missing\": null\n"
                        "}\n");
}

TEST(JsonWriterTest, KeysAreEscapedToo) {
  std::ostringstream text;
  JsonWriter(text).beginObject().member("a\"b", "c\nd").endObject();
  EXPECT_EQ(text.str(), "{\n  \"a\\\"b\": \"c\\nd\"\n}\n");
}

TEST(JsonWriterTest, Numbers) {
  auto one = [](auto number) {
    std::ostringstream text;
    JsonWriter(text).value(number);
    return text.str();
  };
  EXPECT_EQ(one(0.5), "0.5");
  EXPECT_EQ(one(1.0), "1.0");
  EXPECT_EQ(one(0.1), "0.1");
  EXPECT_EQ(one(1e-5), "1e-05");
  EXPECT_EQ(one(std::nan("")), "null");
  EXPECT_EQ(one(std::numeric_limits<double>::infinity()), "null");
  EXPECT_EQ(one(std::numeric_limits<uint64_t>::max()), "18446744073709551615");
  EXPECT_EQ(one(std::numeric_limits<int64_t>::min()), "-9223372036854775808");
}

} // namespace
} // namespace tsopt
