#include "common/hex.h"

#include "absl/strings/escaping.h"

namespace tandem {

// Debian's abseil has its own string_view.
std::string HexEncode(std::string_view bytes) {
  return absl::BytesToHexString(absl::string_view(bytes.data(), bytes.size()));
}

std::string HexEncode(const unsigned char* data, size_t n) {
  return HexEncode(std::string_view(reinterpret_cast<const char*>(data), n));
}

bool IsLowerHex(std::string_view text, size_t bytes) {
  if (text.size() != 2 * bytes) return false;
  for (char c : text) {
    if (HexDigitValue(c) < 0 || (c >= 'A' && c <= 'F')) return false;
  }
  return true;
}

// By hand: this abseil's HexStringToBytes does not check its input.
std::optional<std::string> HexDecode(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  std::string out;
  out.reserve(hex.size() / 2);
  for (size_t i = 0; i < hex.size(); i += 2) {
    const int hi = HexDigitValue(hex[i]), lo = HexDigitValue(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi << 4 | lo));
  }
  return out;
}

}  // namespace tandem
