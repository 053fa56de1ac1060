// images_coldstart_bench: job cold start in a cached image vs on the host's
// environment, both sandboxed by bubblewrap on the local substrate,
// interleaved run by run in one process.
//
//   cold start   Submit() called -> user code started (the runner's `started`
//                marker, Substrate::StartedMicros)
//   end to end   Submit() called -> Poll() reports the end (polled every 2 ms)
//
// The job is `/bin/sh -c :` in both. The image is pulled and unpacked into
// the layer cache once before the runs (a warm node: "cached image"); with
// --layout oci:DIR:NAME it is that image (e.g. the Python base of
// examples/images/python-base.sh), else a tiny image of the host's dash and
// C library. Medians and p95 over --runs.
//
// Usage: images_coldstart_bench [--runs 30] [--layout oci:DIR:NAME] [--dir DIR]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/ids.h"
#include "common/job_timing.h"
#include "compute/substrates/local/substrate.h"
#include "glue/imagefs/oci_layout.h"
#include "glue/imagefs/testing/test_image.h"

namespace tandem::compute {
namespace {

namespace fs = std::filesystem;

// The substrate owns each source it is given; this one forwards to a shared
// in-memory source.
class ForwardingSource : public imagefs::ImageSource {
 public:
  explicit ForwardingSource(std::shared_ptr<imagefs::testing::MemorySource> to)
      : to_(std::move(to)) {}
  StatusOr<std::string> ManifestBytes(const std::string& d) override {
    return to_->ManifestBytes(d);
  }
  StatusOr<std::unique_ptr<store::BlobReader>> OpenBlob(const std::string& d) override {
    return to_->OpenBlob(d);
  }

 private:
  std::shared_ptr<imagefs::testing::MemorySource> to_;
};

struct Sample {
  double cold_ms = 0, end_ms = 0;
};

using bench::Percentile;

StatusOr<Sample> RunOnce(jobs::Substrate& s, const std::string& root, const std::string& id,
                         const std::string& image_digest) {
  std::string dir = root + "/" + id;
  fs::create_directories(dir + "/ml/code");
  jobs::LaunchRequest r;
  r.job_id = id;
  r.job_dir = dir + "/ml";
  r.log_path = dir + "/job.log";
  r.argv = {"/bin/sh", "-c", ":"};
  r.env = {{"PATH", "/usr/bin:/bin"}};
  r.working_dir = "/opt/ml/code";
  r.max_runtime_seconds = 600;
  r.image_digest = image_digest;
  r.image_repository = image_digest.empty() ? "" : "bench/image";
  ASSIGN_OR_RETURN(bench::JobTiming t, bench::TimeJob(s, r, 2'000));
  return Sample{t.cold_ms, t.end_ms};
}

int Main(int argc, char** argv) {
  std::string layout_ref, root = "/var/tmp";
  int runs = 30;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--runs") {
      runs = std::atoi(argv[i + 1]);
    } else if (a == "--layout") {
      layout_ref = argv[i + 1];
    } else if (a == "--dir") {
      root = argv[i + 1];
    }
  }
  root += "/tandem-images-coldstart-" + NewUlid(Clock::Real());
  fs::create_directories(root);

  // Where the image comes from: an OCI layout, or a tiny image in memory.
  std::unique_ptr<imagefs::OciLayout> layout;
  auto memory = std::make_shared<imagefs::testing::MemorySource>();
  std::string digest;
  if (!layout_ref.empty()) {
    std::string rest = layout_ref.substr(layout_ref.starts_with("oci:") ? 4 : 0);
    std::string dir = rest.substr(0, rest.find(':'));
    std::string name = rest.find(':') == std::string::npos ? "" : rest.substr(rest.find(':') + 1);
    auto opened = imagefs::OciLayout::Open(dir, false);
    if (!opened.ok()) {
      std::fprintf(stderr, "%s\n", std::string(opened.status().message()).c_str());
      return 1;
    }
    layout = std::make_unique<imagefs::OciLayout>(std::move(*opened));
    auto desc = layout->FindManifest(name);
    if (!desc.ok()) {
      std::fprintf(stderr, "%s\n", std::string(desc.status().message()).c_str());
      return 1;
    }
    digest = desc->digest;
  } else {
    auto shell = imagefs::testing::HostShellLayer();
    if (!shell.ok()) return 1;
    imagefs::testing::TestImageSpec spec;
    spec.layers.push_back(*shell);
    digest = memory->Add(spec);
  }
  local::LocalSubstrateOptions lo;
  lo.sandbox = local::LocalSubstrateOptions::Sandbox::kOn;
  lo.image_cache_dir = root + "/cache";
  imagefs::OciLayout* layout_ptr = layout.get();
  lo.image_source = [memory, layout_ptr](const std::string&) {
    return layout_ptr != nullptr ? imagefs::LayoutSource(*layout_ptr)
                                 : std::unique_ptr<imagefs::ImageSource>(
                                       new ForwardingSource(memory));
  };
  auto local = local::LocalSubstrate::Create(lo);
  if (!local.ok()) {
    std::fprintf(stderr, "cannot create the substrate: %s\n",
                 std::string(local.status().message()).c_str());
    return 1;
  }
  // Warm the cache: the first pull and unpack are not what is measured.
  const int64_t p0 = Clock::Real().MonotonicMicros();
  auto warm = RunOnce(**local, root, "warm", digest);
  if (!warm.ok()) {
    std::fprintf(stderr, "warm-up failed: %s\n", std::string(warm.status().message()).c_str());
    return 1;
  }
  std::fprintf(stderr, "first run (pull + unpack + run): %.1f ms\n",
               static_cast<double>(Clock::Real().MonotonicMicros() - p0) / 1000);
  std::vector<Sample> host, image;
  for (int i = 0; i < runs; ++i) {
    auto a = RunOnce(**local, root, "host-" + std::to_string(i), "");
    auto b = RunOnce(**local, root, "image-" + std::to_string(i), digest);
    if (!a.ok() || !b.ok()) {
      std::fprintf(stderr, "run %d failed: %s %s\n", i, std::string(a.status().message()).c_str(),
                   std::string(b.status().message()).c_str());
      return 1;
    }
    host.push_back(*a);
    image.push_back(*b);
  }
  auto column = [](const std::vector<Sample>& v, double Sample::*f) {
    std::vector<double> out;
    for (const auto& s : v) out.push_back(s.*f);
    return out;
  };
  std::printf(
      "| %d runs interleaved | host p50 ms | host p95 ms | image p50 ms | image p95 ms | image - "
      "host p50 ms |\n|---|---|---|---|---|---|\n",
      runs);
  struct Row {
    const char* name;
    double Sample::*field;
  };
  for (Row row : {Row{"cold start (Submit -> user code started)", &Sample::cold_ms},
                  Row{"end to end (Submit -> end seen by Poll)", &Sample::end_ms}}) {
    auto h = column(host, row.field), m = column(image, row.field);
    double hp50 = Percentile(h, 0.5), mp50 = Percentile(m, 0.5);
    std::printf("| %s | %.1f | %.1f | %.1f | %.1f | %+.1f |\n", row.name, hp50,
                Percentile(h, 0.95), mp50, Percentile(m, 0.95), mp50 - hp50);
  }
  std::error_code ec;
  fs::remove_all(root, ec);
  return 0;
}

}  // namespace
}  // namespace tandem::compute

int main(int argc, char** argv) { return tandem::compute::Main(argc, argv); }
