// Hexadecimal text of bytes (digests, random tokens, opaque page tokens):
// lowercase two digits a byte, and back; one digit's value (percent-decoding).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace tandem {

// The value of the hex digit `c` (either case), or -1 when `c` is none.
constexpr int HexDigitValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// True when `text` is the lowercase hex of `bytes` bytes: exactly 2 * bytes
// digits 0-9a-f (as HexEncode writes it; a SHA-256 digest is 32 bytes).
bool IsLowerHex(std::string_view text, size_t bytes);

// The lowercase hex of `bytes`: two digits a byte, 2 * bytes.size() chars.
std::string HexEncode(std::string_view bytes);
std::string HexEncode(const unsigned char* data, size_t n);

// The bytes whose hex `hex` is (digits of either case); nullopt when `hex`
// has an odd length or a character that is not a hex digit.
std::optional<std::string> HexDecode(std::string_view hex);

}  // namespace tandem
