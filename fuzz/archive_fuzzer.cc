// UnpackArchive on untrusted tar.gz bytes (uploaded sources, model archives):
// never crashes, and whatever it accepts stays inside the target directory;
// a refusal leaves nothing behind.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "glue/store/archive.h"

namespace fs = std::filesystem;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const fs::path root =
      fs::temp_directory_path() / ("tandem-archive-fuzz-" + std::to_string(::getpid()));
  std::error_code ec;
  fs::remove_all(root, ec);
  fs::create_directories(root / "parent");
  const fs::path archive = root / "in.tar.gz";
  {
    std::ofstream out(archive, std::ios::binary);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  tandem::store::UnpackLimits limits;
  limits.max_total_bytes = 8 << 20;
  limits.max_entry_bytes = 8 << 20;
  limits.max_entries = 1000;
  tandem::Status s = tandem::store::UnpackArchive(archive, root / "parent" / "target", limits);
  // Nothing may appear beside the target: no escape, no staging left over.
  for (const auto& e : fs::directory_iterator(root / "parent")) {
    if (e.path().filename() != "target" || !s.ok()) __builtin_trap();
  }
  for (const auto& e : fs::directory_iterator(root)) {
    const std::string name = e.path().filename();
    if (name != "parent" && name != "in.tar.gz") __builtin_trap();
  }
  fs::remove_all(root, ec);
  return 0;
}
