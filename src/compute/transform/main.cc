// tandem-transform: the built-in program a batch transform job runs. It
// loads the model from the `model` channel (a model package directory, or a
// single model.tar.gz as the registry stores it), scores every object of the
// `input` channel with the transform engine and writes `<input-name>.out`
// per object into /opt/ml/output/data, keeping only the outputs of objects
// that succeeded entirely. Any failed object -> output/failure names the
// failed objects with their first errors, and the exit status is 1.
//
// Inside a job the settings arrive as the contract's `--key value`
// hyperparameter arguments (content_type, batch_strategy, max_payload_mb,
// max_concurrent_transforms, join_source) and the paths from SM_CHANNEL_MODEL,
// SM_CHANNEL_INPUT and SM_OUTPUT_DATA_DIR. Standalone (benchmarks, debugging):
//   tandem-transform --model-dir DIR --input-path FILE|DIR --output-dir DIR
//                    [--content_type text/csv] [--max_concurrent_transforms 2] ...
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/ids.h"
#include "compute/transform/engine.h"
#include "glue/store/archive.h"
#include "runtime/load_model.h"

namespace tandem::compute::transform {
namespace {

namespace fs = std::filesystem;

std::string Env(const char* name, const std::string& fallback = "") {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

StatusOr<std::map<std::string, std::string>> ParseArgs(int argc, char** argv) {
  std::map<std::string, std::string> args;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) != 0 || i + 1 >= argc) {
      return InvalidArgumentError("expected --key value arguments, got '" + a + "'");
    }
    args[a.substr(2)] = argv[++i];
  }
  return args;
}

StatusOr<TransformOptions> Options(const std::map<std::string, std::string>& args) {
  TransformOptions o;
  auto get = [&](const char* k, const char* def) {
    auto it = args.find(k);
    return it == args.end() ? std::string(def) : it->second;
  };
  auto ct = ParseContentType(get("content_type", "text/csv"));
  if (!ct.ok()) return Annotate(ct.status(), "content_type");
  o.content_type = *ct;
  auto bs = ParseBatchStrategy(get("batch_strategy", "MultiRecord"));
  if (!bs.ok()) return Annotate(bs.status(), "batch_strategy");
  o.batch_strategy = *bs;
  int64_t mb = std::atoll(get("max_payload_mb", "6").c_str());
  int64_t threads = std::atoll(get("max_concurrent_transforms", "1").c_str());
  if (mb < 1 || mb > 100) return InvalidArgumentError("max_payload_mb must be 1..100");
  if (threads < 1 || threads > 64) {
    return InvalidArgumentError("max_concurrent_transforms must be 1..64");
  }
  o.max_payload_bytes = mb << 20;
  o.threads = static_cast<int>(threads);
  std::string join = get("join_source", "None");
  if (join != "Input" && join != "None") {
    return InvalidArgumentError("join_source must be Input or None, got '" + join + "'");
  }
  o.join_input = join == "Input";
  return o;
}

// The process's user + system CPU time so far, all threads.
double CpuSeconds() {
  struct rusage u;
  if (::getrusage(RUSAGE_SELF, &u) != 0) return 0;
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

bool IsGzip(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  unsigned char magic[2] = {0, 0};
  in.read(reinterpret_cast<char*>(magic), 2);
  return in.gcount() == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
}

// The package directory: `dir` itself, or the single tar.gz in it unpacked
// under `scratch`.
StatusOr<std::string> PackageDir(const std::string& dir, const std::string& scratch) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) files.push_back(e.path());
  if (ec) return NotFoundError("model channel " + dir + ": " + ec.message());
  if (files.size() != 1 || !fs::is_regular_file(files[0]) || !IsGzip(files[0])) return dir;
  std::string target = scratch + "/model";
  RETURN_IF_ERROR(Annotate(store::UnpackArchive(files[0].string(), target),
                           "unpacking model " + files[0].filename().string()));
  return target;
}

// Input objects: a file, or every regular file under a directory (sorted).
std::vector<std::pair<std::string, std::string>> InputObjects(const std::string& input) {
  std::vector<std::pair<std::string, std::string>> out;  // (name, path)
  std::error_code ec;
  if (fs::is_regular_file(input, ec)) {
    out.emplace_back(fs::path(input).filename().string(), input);
    return out;
  }
  for (auto it = fs::recursive_directory_iterator(input, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file()) {
      out.emplace_back(it->path().lexically_relative(input).generic_string(), it->path().string());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

void WriteFailure(const std::string& text) {
  std::string dir = Env("SM_OUTPUT_DIR");
  if (dir.empty()) return;
  std::ofstream(dir + "/failure") << text;
}

int Fail(const std::string& text) {
  std::fprintf(stderr, "tandem-transform: %s\n", text.c_str());
  WriteFailure(text);
  return 1;
}

int Main(int argc, char** argv) {
  auto args = ParseArgs(argc, argv);
  if (!args.ok()) return Fail(std::string(args.status().message()));
  auto opts = Options(*args);
  if (!opts.ok()) return Fail(std::string(opts.status().message()));
  auto arg = [&](const char* k, const std::string& fallback) {
    auto it = args->find(k);
    return it == args->end() ? fallback : it->second;
  };
  std::string model_channel = arg("model-dir", Env("SM_CHANNEL_MODEL"));
  std::string input = arg("input-path", Env("SM_CHANNEL_INPUT"));
  std::string output = arg("output-dir", Env("SM_OUTPUT_DATA_DIR"));
  if (model_channel.empty() || input.empty() || output.empty()) {
    return Fail(
        "no model, input or output (SM_CHANNEL_MODEL, SM_CHANNEL_INPUT, "
        "SM_OUTPUT_DATA_DIR or --model-dir, --input-path, --output-dir)");
  }
  std::string scratch =
      fs::path(Env("TMPDIR", "/tmp")) / ("tandem-transform-" + NewUlid(Clock::Real()));
  std::error_code ec;
  fs::create_directories(scratch, ec);
  auto cleanup = [&] { fs::remove_all(scratch, ec); };
  auto package = PackageDir(model_channel, scratch);
  if (!package.ok()) {
    cleanup();
    return Fail("model: " + std::string(package.status().message()));
  }
  auto model = runtime::LoadModel(*package);
  if (!model.ok()) {
    cleanup();
    return Fail("model: " + std::string(model.status().message()));
  }
  const runtime::Predictor& predictor = (*model)->predictor();
  std::printf("model: %s\n", predictor.Describe().c_str());
  auto objects = InputObjects(input);
  std::vector<std::string> failures;
  int64_t total_records = 0;
  for (const auto& [name, path] : objects) {
    std::string out_path = output + "/" + name + ".out";
    fs::create_directories(fs::path(out_path).parent_path(), ec);
    const int64_t start = Clock::Real().MonotonicMicros();
    const double cpu_start = CpuSeconds();
    auto stats = TransformFile(predictor, path, out_path, *opts);
    double secs = static_cast<double>(Clock::Real().MonotonicMicros() - start) / 1e6;
    const double cpu = CpuSeconds() - cpu_start;
    if (!stats.ok()) {
      failures.push_back(name + ": " + std::string(stats.status().message()));
      std::printf("object %s: failed: %s\n", name.c_str(),
                  std::string(stats.status().message()).c_str());
    } else {
      total_records += stats->records;
      std::printf("object %s: %lld records in %.3f s (%.0f records/s, %.3f CPU-s) -> %s.out\n",
                  name.c_str(), static_cast<long long>(stats->records), secs,
                  secs > 0 ? stats->records / secs : 0.0, cpu, name.c_str());
    }
    std::fflush(stdout);
  }
  cleanup();
  std::printf("transformed %zu of %zu objects, %lld records\n", objects.size() - failures.size(),
              objects.size(), static_cast<long long>(total_records));
  if (objects.empty()) return Fail("no input objects in " + input);
  if (!failures.empty()) {
    std::string text = std::to_string(failures.size()) + " of " + std::to_string(objects.size()) +
                       " input objects failed: ";
    for (size_t i = 0; i < failures.size(); ++i) text += (i ? "; " : "") + failures[i];
    return Fail(text);
  }
  return 0;
}

}  // namespace
}  // namespace tandem::compute::transform

int main(int argc, char** argv) { return tandem::compute::transform::Main(argc, argv); }
