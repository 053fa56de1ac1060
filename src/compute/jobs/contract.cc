#include "compute/jobs/contract.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>

namespace tandem::compute::jobs {
namespace {

namespace fs = std::filesystem;

constexpr char kInstanceGroup[] = "homogeneousCluster";
constexpr char kInstanceType[] = "local";
constexpr char kNetworkInterface[] = "lo";
constexpr int kLogLevelInfo = 20;  // Python's logging.INFO
constexpr char kPath[] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
// Debian's interpreter (with python3-sklearn/xgboost), not whatever `python3`
// a developer's PATH resolves to (e.g. a pyenv shim without those packages).
constexpr char kPython[] = "/usr/bin/python3";

// Hyperparameters the toolkit keeps out of the user's hyperparameters
// (params.SAGEMAKER_HYPERPARAMETERS); other `sagemaker_*` keys become
// SM_FRAMEWORK_PARAMS.
const std::set<std::string>& ToolkitHyperparameters() {
  static const std::set<std::string> kKeys = {"sagemaker_program",
                                              "sagemaker_submit_directory",
                                              "sagemaker_enable_cloudwatch_metrics",
                                              "sagemaker_region",
                                              "sagemaker_container_log_level",
                                              "sagemaker_job_name",
                                              "default_user_module_name",
                                              "_tuning_objective_metric",
                                              "sagemaker_s3_output"};
  return kKeys;
}

// ---- Python renderings (the toolkit is Python: str(), repr(), json.dumps) ----

// repr(float): shortest round-trip digits; exponent form when the decimal
// point position is < -3 or > 16, as CPython's float_repr_style 'short'.
std::string PyFloatRepr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d < 0 ? "-inf" : "inf";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::scientific);
  std::string s(buf, r.ptr);
  std::string sign;
  if (s[0] == '-') {
    sign = "-";
    s.erase(0, 1);
  }
  size_t e = s.find('e');
  std::string mant = s.substr(0, e);
  int exp = std::stoi(s.substr(e + 1));
  std::string digits;
  for (char c : mant) {
    if (c != '.') digits += c;
  }
  int decpt = exp + 1;  // value = 0.digits * 10^decpt
  int n = static_cast<int>(digits.size());
  std::string out;
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) {
      out = "0." + std::string(-decpt, '0') + digits;
    } else if (decpt >= n) {
      out = digits + std::string(decpt - n, '0') + ".0";
    } else {
      out = digits.substr(0, decpt) + "." + digits.substr(decpt);
    }
  } else {
    out = digits.substr(0, 1);
    if (n > 1) out += "." + digits.substr(1);
    char eb[16];
    std::snprintf(eb, sizeof(eb), "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    out += eb;
  }
  return sign + out;
}

std::string PyNumber(const Json& v) {
  if (v.is_number_float()) return PyFloatRepr(v.get<double>());
  return v.dump();
}

// Decodes one UTF-8 code point at s[i] (advancing i); invalid bytes map to
// themselves (as latin-1), which is what a lenient decode would give.
uint32_t NextCodePoint(std::string_view s, size_t& i) {
  unsigned char c = s[i];
  int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
  if (len <= 1 || i + len > s.size()) {
    ++i;
    return c;
  }
  uint32_t cp = c & (0xff >> (len + 1));
  for (int k = 1; k < len; ++k) {
    unsigned char cc = s[i + k];
    if ((cc & 0xc0) != 0x80) {
      ++i;
      return c;
    }
    cp = (cp << 6) | (cc & 0x3f);
  }
  i += len;
  return cp;
}

// json.dumps(s, ensure_ascii=True) of a string.
std::string PyJsonString(std::string_view s) {
  std::string out = "\"";
  char buf[16];
  for (size_t i = 0; i < s.size();) {
    uint32_t cp = NextCodePoint(s, i);
    switch (cp) {
      case '"':
        out += "\\\"";
        continue;
      case '\\':
        out += "\\\\";
        continue;
      case '\n':
        out += "\\n";
        continue;
      case '\r':
        out += "\\r";
        continue;
      case '\t':
        out += "\\t";
        continue;
      case '\b':
        out += "\\b";
        continue;
      case '\f':
        out += "\\f";
        continue;
      default:
        break;
    }
    if (cp >= 0x20 && cp < 0x7f) {
      out += static_cast<char>(cp);
    } else if (cp < 0x10000) {
      std::snprintf(buf, sizeof(buf), "\\u%04x", cp);
      out += buf;
    } else {
      uint32_t v = cp - 0x10000;
      std::snprintf(buf, sizeof(buf), "\\u%04x\\u%04x", 0xd800 + (v >> 10), 0xdc00 + (v & 0x3ff));
      out += buf;
    }
  }
  return out + "\"";
}

// json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=True):
// the toolkit's rendering of every non-string SM_* value.
std::string PyJsonDumps(const Json& v) {
  switch (v.type()) {
    case Json::value_t::null:
      return "null";
    case Json::value_t::boolean:
      return v.get<bool>() ? "true" : "false";
    case Json::value_t::string:
      return PyJsonString(v.get_ref<const std::string&>());
    case Json::value_t::number_float: {
      double d = v.get<double>();
      if (std::isnan(d)) return "NaN";
      if (std::isinf(d)) return d < 0 ? "-Infinity" : "Infinity";
      return PyFloatRepr(d);
    }
    case Json::value_t::array: {
      std::string out = "[";
      for (size_t i = 0; i < v.size(); ++i) out += (i ? "," : "") + PyJsonDumps(v[i]);
      return out + "]";
    }
    case Json::value_t::object: {
      std::string out = "{";
      bool first = true;
      for (const auto& [k, e] : v.items()) {  // std::map: sorted by key
        out += (first ? "" : ",") + PyJsonString(k) + ":" + PyJsonDumps(e);
        first = false;
      }
      return out + "}";
    }
    default:
      return v.dump();
  }
}

// repr(str): single quotes unless the text has ' and no ".
std::string PyStringRepr(std::string_view s) {
  char q = (s.find('\'') != std::string_view::npos && s.find('"') == std::string_view::npos) ? '"'
                                                                                             : '\'';
  std::string out(1, q);
  char buf[16];
  for (size_t i = 0; i < s.size();) {
    size_t start = i;
    uint32_t cp = NextCodePoint(s, i);
    if (cp == '\\' || cp == static_cast<uint32_t>(q)) {
      out += '\\';
      out += static_cast<char>(cp);
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp == '\t') {
      out += "\\t";
    } else if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0)) {
      std::snprintf(buf, sizeof(buf), "\\x%02x", cp);
      out += buf;
    } else {
      out.append(s.substr(start, i - start));  // printable: kept as UTF-8
    }
  }
  return out + q;
}

std::string PyRepr(const Json& v) {
  switch (v.type()) {
    case Json::value_t::null:
      return "None";
    case Json::value_t::boolean:
      return v.get<bool>() ? "True" : "False";
    case Json::value_t::string:
      return PyStringRepr(v.get_ref<const std::string&>());
    case Json::value_t::array: {
      std::string out = "[";
      for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + PyRepr(v[i]);
      return out + "]";
    }
    case Json::value_t::object: {
      std::string out = "{";
      bool first = true;
      for (const auto& [k, e] : v.items()) {
        out += (first ? "" : ", ") + PyStringRepr(k) + ": " + PyRepr(e);
        first = false;
      }
      return out + "}";
    }
    default:
      return PyNumber(v);
  }
}

// str(v) (mapping._decode): strings as they are, None as "", the rest repr.
std::string PyStr(const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "";
  return PyRepr(v);
}

// json.loads(s), or the raw string when that fails (read_hyperparameters).
// Python also accepts the bare constants NaN, Infinity and -Infinity.
Json PyJsonLoads(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  size_t e = s.find_last_not_of(" \t\r\n");
  if (b != std::string::npos) {
    std::string_view t(s.data() + b, e - b + 1);
    if (t == "NaN") return std::nan("");
    if (t == "Infinity") return HUGE_VAL;
    if (t == "-Infinity") return -HUGE_VAL;
  }
  StatusOr<Json> j = ParseJson(s);
  if (j.ok()) return *std::move(j);
  return s;
}

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// The channel's ContentType from the source's extension.
std::string ContentType(std::string_view source) {
  while (!source.empty() && source.back() == '/') source.remove_suffix(1);
  std::string s = Lower(source);
  for (const char* gz : {".gz", ".bz2", ".xz", ".zst"}) {
    if (EndsWith(s, gz)) s.resize(s.size() - std::string_view(gz).size());
  }
  if (EndsWith(s, ".csv")) return "text/csv";
  if (EndsWith(s, ".jsonl") || EndsWith(s, ".jsonlines")) return "application/jsonlines";
  if (EndsWith(s, ".json")) return "application/json";
  if (EndsWith(s, ".libsvm") || EndsWith(s, ".svm")) return "text/libsvm";
  if (EndsWith(s, ".parquet")) return "application/x-parquet";
  return "application/octet-stream";
}

Json InputDataConfig(const JobSpec& spec) {
  Json j = Json::object();
  for (const auto& [channel, source] : spec.inputs) {
    j[channel] = {{"ContentType", ContentType(source)},
                  {"TrainingInputMode", "File"},
                  {"S3DistributionType", "FullyReplicated"},
                  {"RecordWrapperType", "None"}};
  }
  return j;
}

Json ResourceConfig() {
  Json hosts = Json::array();
  hosts.push_back(kCurrentHost);
  Json group = Json::object();
  group["instance_group_name"] = kInstanceGroup;
  group["instance_type"] = kInstanceType;
  group["hosts"] = hosts;
  Json groups = Json::array();
  groups.push_back(std::move(group));
  return {{"current_host", kCurrentHost},
          {"hosts", hosts},
          {"current_instance_type", kInstanceType},
          // SageMaker writes current_group_name; the toolkit's local mode
          // writes current_instance_group. Both, so either reader works.
          {"current_group_name", kInstanceGroup},
          {"current_instance_group", kInstanceGroup},
          {"instance_groups", std::move(groups)},
          {"network_interface_name", kNetworkInterface}};
}

struct SplitHyperparameters {
  Json user = Json::object();       // environment.hyperparameters
  Json framework = Json::object();  // additional_framework_parameters
};

SplitHyperparameters Deserialize(const std::map<std::string, Json>& hps) {
  SplitHyperparameters out;
  for (const auto& [k, v] : hps) {
    Json value = PyJsonLoads(HyperparameterString(v));
    bool toolkit = ToolkitHyperparameters().count(k) > 0;
    if (toolkit || k.rfind("sagemaker_", 0) == 0) {
      if (!toolkit) out.framework[k] = std::move(value);
    } else {
      out.user[k] = std::move(value);
    }
  }
  return out;
}

std::vector<std::string> CmdArgs(const Json& user_hps) {
  std::vector<std::string> args;
  for (const auto& [k, v] : user_hps.items()) {  // sorted by key
    args.push_back(k.size() > 1 ? "--" + k : "-" + k);
    if (v.is_object()) {
      std::string joined;
      bool first = true;
      for (const auto& [mk, mv] : v.items()) {
        joined += (first ? "" : ",") + mk + "=" + PyStr(mv);
        first = false;
      }
      args.push_back(std::move(joined));
    } else {
      args.push_back(PyStr(v));
    }
  }
  return args;
}

std::string Join(const std::string& base, std::string_view rel) {
  if (base.empty() || base.back() == '/') return base + std::string(rel);
  return base + "/" + std::string(rel);
}

Status WriteFile(const std::string& path, const std::string& content) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) return InternalError("cannot write " + path);
  f << content;
  f.close();
  if (!f) return InternalError("cannot write " + path);
  return OkStatus();
}

}  // namespace

Status CreateJobTree(const std::string& job_dir, const std::vector<std::string>& channels) {
  std::vector<std::string> dirs = {"input/config", "input/data",          "code",       "model",
                                   "output/data",  "output/intermediate", "checkpoints"};
  for (const auto& c : channels) {
    if (c.empty() || c == "." || c == ".." || c.find('/') != std::string::npos ||
        c.find('\0') != std::string::npos) {
      return InvalidArgumentError("invalid channel name '" + c + "'");
    }
    dirs.push_back("input/data/" + c);
  }
  for (const auto& d : dirs) {
    std::error_code ec;
    fs::create_directories(Join(job_dir, d), ec);
    if (ec) return InternalError("cannot create " + Join(job_dir, d) + ": " + ec.message());
  }
  return OkStatus();
}

std::string HyperparameterString(const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

Status WriteConfigFiles(const std::string& job_dir, const JobSpec& spec,
                        const std::string& job_name) {
  (void)job_name;  // the config files carry no job name (TRAINING_JOB_NAME does)
  if (spec.hyperparameters.size() > 100) {
    return InvalidArgumentError("at most 100 hyperparameters are allowed, got " +
                                std::to_string(spec.hyperparameters.size()));
  }
  Json hps = Json::object();
  for (const auto& [k, v] : spec.hyperparameters) {
    std::string s = HyperparameterString(v);
    if (k.size() > 256 || s.size() > 256) {
      return InvalidArgumentError("hyperparameter '" + k.substr(0, 100) +
                                  "': key and value must be at most 256 characters");
    }
    hps[k] = std::move(s);
  }
  std::string config = Join(job_dir, "input/config");
  std::error_code ec;
  fs::create_directories(config, ec);
  if (ec) return InternalError("cannot create " + config + ": " + ec.message());
  RETURN_IF_ERROR(WriteFile(Join(config, "hyperparameters.json"), hps.dump()));
  RETURN_IF_ERROR(WriteFile(Join(config, "inputdataconfig.json"), InputDataConfig(spec).dump()));
  RETURN_IF_ERROR(WriteFile(Join(config, "resourceconfig.json"), ResourceConfig().dump()));
  return OkStatus();
}

std::vector<std::string> HyperparameterArgs(const std::map<std::string, Json>& hps) {
  return CmdArgs(Deserialize(hps).user);
}

std::map<std::string, std::string> ContractEnvironment(const JobSpec& spec,
                                                       const std::string& job_name,
                                                       const std::string& base, int num_cpus) {
  SplitHyperparameters hps = Deserialize(spec.hyperparameters);
  std::vector<std::string> user_args = CmdArgs(hps.user);
  const std::string input_dir = Join(base, "input");
  const std::string input_config_dir = Join(base, "input/config");
  const std::string output_dir = Join(base, "output");
  const std::string code_dir = Join(base, "code");

  Json channel_dirs = Json::object();
  Json channels = Json::array();
  for (const auto& [channel, source] : spec.inputs) {
    channel_dirs[channel] = Join(base, "input/data/" + channel);
    channels.push_back(channel);  // std::map: sorted
  }
  Json resource_config = ResourceConfig();
  Json hosts = resource_config["hosts"];
  std::string module_name = spec.entry_point;
  if (EndsWith(module_name, ".py")) module_name.resize(module_name.size() - 3);

  // The properties of sagemaker_training.environment.Environment.
  Json env = {
      {"additional_framework_parameters", hps.framework},
      {"channel_input_dirs", channel_dirs},
      {"current_host", kCurrentHost},
      {"current_instance_group", kInstanceGroup},
      {"current_instance_group_hosts", hosts},
      {"current_instance_type", kInstanceType},
      {"distribution_hosts", Json::array()},
      {"distribution_instance_groups", Json::array()},
      {"framework_module", nullptr},
      {"hosts", hosts},
      {"hyperparameters", hps.user},
      {"input_config_dir", input_config_dir},
      {"input_data_config", InputDataConfig(spec)},
      {"input_dir", input_dir},
      {"instance_groups", Json::array({Json(kInstanceGroup)})},
      {"instance_groups_dict", {{kInstanceGroup, resource_config["instance_groups"][0]}}},
      {"is_hetero", false},
      {"is_master", true},
      {"is_modelparallel_enabled", nullptr},
      {"job_name", job_name},
      {"log_level", kLogLevelInfo},
      {"master_hostname", kCurrentHost},
      {"model_dir", Join(base, "model")},
      {"module_dir", code_dir},
      {"module_name", module_name},
      {"network_interface_name", kNetworkInterface},
      {"num_cpus", num_cpus},
      {"num_gpus", spec.resources.gpus},
      {"output_data_dir", Join(base, "output/data")},
      {"output_dir", output_dir},
      {"output_intermediate_dir", Join(base, "output/intermediate")},
      {"resource_config", resource_config},
      {"user_entry_point", spec.entry_point},
  };

  // Environment.to_env_vars(): "SM_" + key.upper(); strings as they are,
  // None as "", everything else json.dumps'ed.
  std::map<std::string, Json> vars = {
      {"hosts", hosts},
      {"network_interface_name", kNetworkInterface},
      {"hps", hps.user},
      {"user_entry_point", spec.entry_point},
      {"framework_params", hps.framework},
      {"resource_config", resource_config},
      {"input_data_config", env["input_data_config"]},
      {"output_data_dir", env["output_data_dir"]},
      {"channels", channels},
      {"current_host", kCurrentHost},
      {"current_instance_type", kInstanceType},
      {"current_instance_group", kInstanceGroup},
      {"current_instance_group_hosts", hosts},
      {"instance_groups", env["instance_groups"]},
      {"instance_groups_dict", env["instance_groups_dict"]},
      {"distribution_instance_groups", Json::array()},
      {"is_hetero", false},
      {"module_name", module_name},
      {"log_level", kLogLevelInfo},
      {"framework_module", nullptr},
      {"input_dir", input_dir},
      {"input_config_dir", input_config_dir},
      {"output_dir", output_dir},
      {"num_cpus", num_cpus},
      {"num_gpus", spec.resources.gpus},
      {"model_dir", env["model_dir"]},
      {"module_dir", code_dir},
      {"training_env", env},
      {"user_args", user_args},
      {"output_intermediate_dir", env["output_intermediate_dir"]},
  };
  for (const auto& [channel, dir] : channel_dirs.items()) vars["channel_" + channel] = dir;
  for (const auto& [k, v] : hps.user.items()) vars["hp_" + k] = v;

  std::map<std::string, std::string> out = {
      {"PATH", kPath},
      // Writable in both modes (a private tmpfs in the sandbox), for the
      // caches libraries keep under ~ (joblib, matplotlib, pip).
      {"HOME", "/tmp"},
      {"LANG", "C.UTF-8"},
      {"PYTHONUNBUFFERED", "1"},
      {"PYTHONDONTWRITEBYTECODE", "1"},
      // Lets sagemaker_training (if a script imports it) find the tree.
      {"SAGEMAKER_BASE_DIR", base},
      {"TRAINING_JOB_NAME", job_name},
      {"TRAINING_JOB_ARN", "arn:tandem:compute:local:training-job/" + job_name},
  };
  for (const auto& [k, v] : vars) {
    out["SM_" + Upper(k)] = v.is_string() ? v.get<std::string>()
                            : v.is_null() ? std::string()
                                          : PyJsonDumps(v);
  }
  // Where a job with `checkpoint:` keeps its checkpoints (SageMaker scripts
  // use /opt/ml/checkpoints literally; outside the sandbox it is elsewhere).
  if (spec.checkpoint) out[kCheckpointDirVariable] = Join(base, "checkpoints");
  for (const auto& [k, v] : spec.environment) out[k] = v;
  return out;
}

std::vector<std::string> EntryPointCommand(const JobSpec& spec, const std::string& base) {
  std::string path =
      spec.entry_point.front() == '/' ? spec.entry_point : Join(base, "code/" + spec.entry_point);
  std::vector<std::string> cmd;
  if (EndsWith(spec.entry_point, ".py")) cmd.push_back(kPython);
  cmd.push_back(std::move(path));
  for (auto& a : HyperparameterArgs(spec.hyperparameters)) cmd.push_back(std::move(a));
  return cmd;
}

std::string FailureReason(const std::string& job_dir, const std::string& fallback) {
  constexpr size_t kMax = 1024;
  std::string path = Join(job_dir, "output/failure");
  // The job owns this file: refuse symlinks, FIFOs and devices (O_NONBLOCK so
  // a FIFO cannot block the open) and read at most kMax bytes.
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return fallback;
  struct stat st;
  std::string text;
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
    text.resize(kMax);
    size_t got = 0;
    while (got < kMax) {
      ssize_t n = ::read(fd, text.data() + got, kMax - got);
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    text.resize(got);
  }
  ::close(fd);
  if (text.size() == kMax) {
    // Do not end inside a UTF-8 sequence: drop an incomplete trailing one.
    size_t i = text.size();
    size_t back = 0;
    while (i > 0 && back < 4 && (static_cast<unsigned char>(text[i - 1]) & 0xc0) == 0x80) {
      --i;
      ++back;
    }
    if (i > 0) {
      unsigned char lead = text[i - 1];
      size_t need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
      if (need > 1 && back + 1 < need) text.resize(i - 1);
    }
  }
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ' ||
                           text.back() == '\t')) {
    text.pop_back();
  }
  return text.empty() ? fallback : text;
}

}  // namespace tandem::compute::jobs
