// Test data for the object store tests (tests only, target
// tandem_store_testing): deterministic random bytes and whole-file reads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace tandem::store {

// `n` pseudo-random bytes, the same for the same `seed`.
std::string RandomBytes(size_t n, uint32_t seed);
// The whole file at `path` as bytes ("" when it cannot be read).
std::string ReadFile(const std::string& path);

}  // namespace tandem::store
