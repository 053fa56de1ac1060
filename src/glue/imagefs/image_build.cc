#include "glue/imagefs/image_build.h"

#include "common/spec_fields.h"
#include "glue/store/fs_util.h"

namespace tandem::imagefs {
namespace {

StatusOr<LayerSource> Source(const Json& j, const std::string& path, const std::string& base_dir) {
  if (!j.is_object()) return spec::TypeError(path, "a mapping {src, dest}", j);
  RETURN_IF_ERROR(spec::CheckKnown(j, path + ".", {"src", "dest"}));
  if (!j.contains("src") || !j.contains("dest")) {
    return InvalidArgumentError("'" + path + "' needs both 'src' and 'dest'");
  }
  LayerSource s;
  ASSIGN_OR_RETURN(std::string src, spec::String(j["src"], path + ".src"));
  ASSIGN_OR_RETURN(s.dest, spec::String(j["dest"], path + ".dest"));
  if (src.empty()) return InvalidArgumentError("'" + path + ".src' is empty");
  if (s.dest.empty() || s.dest.front() != '/') {
    return InvalidArgumentError("'" + path + ".dest' must be an absolute path in the image");
  }
  s.host_path = src.front() == '/' ? src : base_dir + "/" + src;
  return s;
}

StatusOr<std::vector<std::string>> OptionalList(const Json& j, const std::string& path) {
  if (j.is_string()) return std::vector<std::string>{j.get<std::string>()};
  return spec::StringList(j, path);
}

}  // namespace

StatusOr<BuildSpec> BuildSpec::FromJson(const Json& j, const std::string& base_dir) {
  if (!j.is_object()) return InvalidArgumentError("an image spec must be a mapping");
  RETURN_IF_ERROR(spec::CheckKnown(
      j, "", {"from", "layers", "env", "workdir", "entrypoint", "cmd", "labels", "user"}));
  BuildSpec out;
  auto has = [&](const char* k) { return j.contains(k) && !j[k].is_null(); };
  if (has("from")) {
    ASSIGN_OR_RETURN(out.from, spec::String(j["from"], "from"));
    if (out.from.empty()) return InvalidArgumentError("'from' is empty (use scratch)");
  }
  if (has("layers")) {
    if (!j["layers"].is_array()) return spec::TypeError("layers", "a list", j["layers"]);
    for (size_t i = 0; i < j["layers"].size(); ++i) {
      const Json& item = j["layers"][i];
      const std::string path = "layers[" + std::to_string(i) + "]";
      std::vector<LayerSource> layer;
      if (item.is_object() && item.contains("files")) {
        RETURN_IF_ERROR(spec::CheckKnown(item, path + ".", {"files"}));
        if (!item["files"].is_array() || item["files"].empty()) {
          return spec::TypeError(path + ".files", "a non-empty list", item["files"]);
        }
        for (size_t k = 0; k < item["files"].size(); ++k) {
          ASSIGN_OR_RETURN(LayerSource s, Source(item["files"][k],
                                                 path + ".files[" + std::to_string(k) + "]",
                                                 base_dir));
          layer.push_back(std::move(s));
        }
      } else {
        ASSIGN_OR_RETURN(LayerSource s, Source(item, path, base_dir));
        layer.push_back(std::move(s));
      }
      out.layers.push_back(std::move(layer));
    }
  }
  if (has("env")) {
    const Json& env = j["env"];
    if (env.is_object()) {
      for (const auto& [k, v] : env.items()) {
        if (k.empty() || k.find('=') != std::string::npos) {
          return InvalidArgumentError("env name '" + k + "' is empty or contains '='");
        }
        std::string value = v.is_string() ? v.get<std::string>() : v.dump();
        out.env.emplace_back(k, value);
      }
    } else if (env.is_array()) {
      ASSIGN_OR_RETURN(std::vector<std::string> list, spec::StringList(env, "env"));
      for (const std::string& kv : list) {
        size_t eq = kv.find('=');
        if (eq == std::string::npos || eq == 0) {
          return InvalidArgumentError("env entry '" + kv + "' is not KEY=value");
        }
        out.env.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
      }
    } else {
      return spec::TypeError("env", "a mapping or a list of KEY=value", env);
    }
  }
  if (has("workdir")) {
    ASSIGN_OR_RETURN(std::string w, spec::String(j["workdir"], "workdir"));
    if (w.empty() || w.front() != '/') {
      return InvalidArgumentError("'workdir' must be an absolute path");
    }
    out.workdir = w;
  }
  if (has("user")) {
    if (j["user"].is_number_integer()) {
      out.user = std::to_string(j["user"].get<int64_t>());
    } else {
      ASSIGN_OR_RETURN(out.user, spec::String(j["user"], "user"));
    }
  }
  if (has("entrypoint")) {
    ASSIGN_OR_RETURN(out.entrypoint, OptionalList(j["entrypoint"], "entrypoint"));
  }
  if (has("cmd")) {
    ASSIGN_OR_RETURN(out.cmd, OptionalList(j["cmd"], "cmd"));
  }
  if (has("labels")) {
    if (!j["labels"].is_object()) return spec::TypeError("labels", "a mapping", j["labels"]);
    for (const auto& [k, v] : j["labels"].items()) {
      out.labels[k] = v.is_string() ? v.get<std::string>() : v.dump();
    }
  }
  return out;
}

StatusOr<images::Descriptor> BuildImage(const BuildSpec& spec, const std::optional<BaseImage>& base,
                                        OciLayout& layout, const std::string& ref_name,
                                        int64_t mtime) {
  images::Manifest manifest;
  manifest.media_type = images::media_types::kOciManifest;
  images::ImageConfig config;
  if (base) {
    manifest.layers = base->manifest.layers;
    config = base->config;
    config.created.clear();
  }
  for (size_t i = 0; i < spec.layers.size(); ++i) {
    const std::string tmp = layout.dir() + "/.layer-" + std::to_string(i) + store::TempName();
    auto written = WriteLayer(spec.layers[i], tmp, mtime);
    if (!written.ok()) return Annotate(written.status(), "layers[" + std::to_string(i) + "]");
    RETURN_IF_ERROR(layout.AddBlobFile(tmp, written->digest).status());
    images::Descriptor d;
    d.media_type = images::media_types::kOciLayerTarGzip;
    d.digest = written->digest;
    d.size = static_cast<int64_t>(written->size);
    manifest.layers.push_back(std::move(d));
    config.diff_ids.push_back(written->diff_id);
  }
  for (const auto& [k, v] : spec.env) {
    bool replaced = false;
    for (std::string& kv : config.env) {
      if (kv.starts_with(k + "=")) {
        kv = k + "=" + v;
        replaced = true;
      }
    }
    if (!replaced) config.env.push_back(k + "=" + v);
  }
  if (spec.workdir) config.working_dir = *spec.workdir;
  if (spec.user) config.user = *spec.user;
  if (spec.entrypoint) {
    config.entrypoint = *spec.entrypoint;
    if (!spec.cmd) config.cmd.clear();
  }
  if (spec.cmd) config.cmd = *spec.cmd;
  for (const auto& [k, v] : spec.labels) config.labels[k] = v;
  config.architecture = "amd64";
  config.os = "linux";
  config.rootfs_type = "layers";
  const std::string config_bytes = images::SerializeImageConfig(config);
  ASSIGN_OR_RETURN(store::BlobInfo config_blob, layout.AddBlobBytes(config_bytes));
  manifest.config.media_type = images::media_types::kOciConfig;
  manifest.config.digest = config_blob.digest;
  manifest.config.size = static_cast<int64_t>(config_blob.size);
  const std::string manifest_bytes = images::SerializeManifest(manifest);
  ASSIGN_OR_RETURN(store::BlobInfo manifest_blob, layout.AddBlobBytes(manifest_bytes));
  images::Descriptor out;
  out.media_type = images::media_types::kOciManifest;
  out.digest = manifest_blob.digest;
  out.size = static_cast<int64_t>(manifest_blob.size);
  if (!ref_name.empty()) out.annotations[kRefNameAnnotation] = ref_name;
  RETURN_IF_ERROR(layout.AddManifest(out));
  return out;
}

}  // namespace tandem::imagefs
