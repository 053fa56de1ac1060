#include "common/ids.h"

#include <array>
#include <cstdint>
#include <random>

#include "common/hex.h"

namespace tandem {
namespace {

// Per-thread generator and monotonic state: no process-wide mutable state.
struct ThreadState {
  std::mt19937_64 rng{std::random_device{}()};
  int64_t last_ms = -1;
  uint64_t hi = 0;  // 16 bits of randomness/counter (ULID) or 12 bits (UUIDv7)
  uint64_t lo = 0;  // 64 bits of randomness
};

ThreadState& State() {
  thread_local ThreadState state;
  return state;
}

// Fills hi/lo for a timestamp: fresh randomness on a new millisecond, an
// incremented value within the same millisecond so ids stay ordered.
void Next(ThreadState& s, int64_t ms, uint64_t hi_mask) {
  if (ms > s.last_ms) {
    s.last_ms = ms;
    s.hi = s.rng() & (hi_mask >> 1);  // leave headroom for increments
    s.lo = s.rng();
  } else {
    if (++s.lo == 0) s.hi = (s.hi + 1) & hi_mask;
  }
}

constexpr char kCrockford[] = "0123456789abcdefghjkmnpqrstvwxyz";

}  // namespace

std::string NewUuidV7(const Clock& clock) {
  ThreadState& s = State();
  int64_t ms = clock.NowMillis();
  if (ms < s.last_ms) ms = s.last_ms;
  Next(s, ms, 0xfff);
  std::array<uint8_t, 16> b{};
  for (int i = 0; i < 6; ++i) b[i] = static_cast<uint8_t>(ms >> (40 - 8 * i));
  b[6] = static_cast<uint8_t>(0x70 | ((s.hi >> 8) & 0x0f));
  b[7] = static_cast<uint8_t>(s.hi & 0xff);
  uint64_t lo = s.lo;
  for (int i = 15; i >= 8; --i) {
    b[i] = static_cast<uint8_t>(lo & 0xff);
    lo >>= 8;
  }
  b[8] = static_cast<uint8_t>(0x80 | (b[8] & 0x3f));  // variant 10xx
  std::string out = HexEncode(b.data(), b.size());
  for (size_t at : {20, 16, 12, 8}) out.insert(at, 1, '-');  // 8-4-4-4-12 digits
  return out;
}

std::string NewUlid(const Clock& clock) {
  ThreadState& s = State();
  int64_t ms = clock.NowMillis();
  if (ms < s.last_ms) ms = s.last_ms;
  Next(s, ms, 0xffff);
  // 48-bit time (10 chars) + 80 bits of randomness (16 chars).
  std::string out(26, '0');
  uint64_t t = static_cast<uint64_t>(ms);
  for (int i = 9; i >= 0; --i) {
    out[i] = kCrockford[t & 31];
    t >>= 5;
  }
  // 80 bits = hi (16) + lo (64), emitted 5 bits at a time from the bottom.
  uint64_t lo = s.lo, hi = s.hi;
  for (int i = 25; i >= 10; --i) {
    out[i] = kCrockford[lo & 31];
    lo = (lo >> 5) | ((hi & 31) << 59);
    hi >>= 5;
  }
  return out;
}

int64_t UlidMillis(const std::string& ulid) {
  if (ulid.size() != 26) return -1;
  int64_t t = 0;
  for (int i = 0; i < 10; ++i) {
    const char* p = std::char_traits<char>::find(kCrockford, 32, ulid[i]);
    if (p == nullptr) return -1;
    t = (t << 5) | (p - kCrockford);
  }
  return t;
}

}  // namespace tandem
