#include "common/hex.h"

#include <string>

#include "gtest/gtest.h"

namespace tandem {
namespace {

std::string AllBytes() {
  std::string s;
  for (int b = 0; b < 256; ++b) s.push_back(static_cast<char>(b));
  return s;
}

TEST(HexTest, DigitValues) {
  EXPECT_EQ(HexDigitValue('0'), 0);
  EXPECT_EQ(HexDigitValue('9'), 9);
  EXPECT_EQ(HexDigitValue('a'), 10);
  EXPECT_EQ(HexDigitValue('F'), 15);
  for (char c : {'/', ':', '`', 'g', '@', 'G', ' ', '\0', '\xff'}) {
    EXPECT_EQ(HexDigitValue(c), -1) << static_cast<int>(c);
  }
}

TEST(HexTest, IsLowerHexWantsExactlyTwoLowercaseDigitsAByte) {
  EXPECT_TRUE(IsLowerHex("", 0));
  EXPECT_TRUE(IsLowerHex("00017f80abff", 6));
  EXPECT_TRUE(IsLowerHex(HexEncode(AllBytes()), 256));
  EXPECT_FALSE(IsLowerHex("00017f80abff", 5));   // too long
  EXPECT_FALSE(IsLowerHex("00017f80abf", 6));    // too short
  EXPECT_FALSE(IsLowerHex("00017F80ABFF", 6));   // uppercase
  EXPECT_FALSE(IsLowerHex("00017f80abfg", 6));   // not a digit
  EXPECT_FALSE(IsLowerHex("00017f80ab f", 6));
  EXPECT_FALSE(IsLowerHex(std::string("00017f80ab\0f", 12), 6));
}

TEST(HexTest, EncodesLowercaseTwoDigitsAByte) {
  EXPECT_EQ(HexEncode(""), "");
  EXPECT_EQ(HexEncode(std::string("\x00\x01\x7f\x80\xab\xff", 6)), "00017f80abff");
  EXPECT_EQ(HexEncode("tandem:42"), "74616e64656d3a3432");
  const unsigned char digest[] = {0xde, 0xad, 0xbe, 0xef, 0x00};
  EXPECT_EQ(HexEncode(digest, sizeof(digest)), "deadbeef00");
  EXPECT_EQ(HexEncode(digest, 0), "");
  const std::string all = HexEncode(AllBytes());
  ASSERT_EQ(all.size(), 512u);
  EXPECT_EQ(all.substr(0, 8), "00010203");
  EXPECT_EQ(all.substr(504), "fcfdfeff");
  EXPECT_EQ(all.find_first_not_of("0123456789abcdef"), std::string::npos) << all;
}

TEST(HexTest, DecodesEitherCaseAndRoundTrips) {
  EXPECT_EQ(HexDecode(""), std::string());
  EXPECT_EQ(HexDecode("00017f80abff"), std::string("\x00\x01\x7f\x80\xab\xff", 6));
  EXPECT_EQ(HexDecode("DEADbeef"), std::string("\xde\xad\xbe\xef"));
  EXPECT_EQ(HexDecode(HexEncode(AllBytes())), AllBytes());
}

TEST(HexTest, RefusesBadInput) {
  EXPECT_FALSE(HexDecode("abc")) << "odd length";
  EXPECT_FALSE(HexDecode("0")) << "odd length";
  EXPECT_FALSE(HexDecode("0g"));
  EXPECT_FALSE(HexDecode("g0"));
  EXPECT_FALSE(HexDecode("0x12")) << "no prefix";
  EXPECT_FALSE(HexDecode("12 34")) << "no space";
  EXPECT_FALSE(HexDecode("12-34"));
  EXPECT_FALSE(HexDecode(std::string("1\0", 2))) << "no NUL";
  EXPECT_FALSE(HexDecode("\xc3\xa9")) << "no non-ASCII";
  // The digits just outside each range.
  for (const char* bad : {"/0", ":0", "`0", "@0", "G0", "0/", "0:", "0`", "0@", "0G"}) {
    EXPECT_FALSE(HexDecode(bad)) << bad;
  }
}

}  // namespace
}  // namespace tandem
