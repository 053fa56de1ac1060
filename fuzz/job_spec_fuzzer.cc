// Job specs (YAML or JSON, from `tandem jobs submit` and POST /api/v1/jobs):
// parsing and validation never crash; a valid spec round-trips through its
// stored JSON form unchanged, and its metric definitions (user regexes)
// compile or are refused, then match a hostile log line in bounded time.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "compute/jobs/metric_parser.h"
#include "compute/jobs/spec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto spec = tandem::compute::jobs::JobSpec::Parse(text);
  if (!spec.ok()) return 0;
  auto back = tandem::compute::jobs::JobSpec::FromJson(spec->ToJson());
  if (!back.ok() || !(*back == *spec)) __builtin_trap();
  auto parser = tandem::compute::jobs::MetricParser::Create(spec->metric_definitions);
  if (!parser.ok()) return 0;
  std::string line(tandem::compute::jobs::MetricParser::kMaxLine, 'a');
  line += "\nloss=0.5 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!\n";
  (void)parser->Feed(line, 0);
  (void)parser->Feed(text, 1);
  (void)parser->Finish(2);
  return 0;
}
