#include "glue/images/manifest.h"

#include <string>

#include "glue/images/reference.h"

namespace tandem::images {
namespace {

namespace mt = media_types;

// "type/subtype" with no spaces or control characters, at most 255 bytes.
bool ValidMediaType(std::string_view s) {
  if (s.empty() || s.size() > 255) return false;
  size_t slash = s.find('/');
  if (slash == 0 || slash == std::string_view::npos || slash + 1 == s.size()) return false;
  for (char c : s) {
    if (c <= ' ' || c == 127 || c == ',' || c == ';' || c == '"') return false;
  }
  return true;
}

StatusOr<std::string> OptString(const Json& j, const char* field, std::string_view where) {
  auto it = j.find(field);
  if (it == j.end() || it->is_null()) return std::string();
  if (!it->is_string()) {
    return InvalidArgumentError(std::string(where) + "." + field + " must be a string");
  }
  return it->get<std::string>();
}

StatusOr<std::map<std::string, std::string>> StringMap(const Json& j, const char* field,
                                                        std::string_view where) {
  std::map<std::string, std::string> out;
  auto it = j.find(field);
  if (it == j.end() || it->is_null()) return out;
  if (!it->is_object()) {
    return InvalidArgumentError(std::string(where) + "." + field + " must be an object");
  }
  for (auto kv = it->begin(); kv != it->end(); ++kv) {
    if (!kv.value().is_string()) {
      return InvalidArgumentError(std::string(where) + "." + field + "['" + kv.key() +
                                  "'] must be a string");
    }
    out[kv.key()] = kv.value().get<std::string>();
  }
  return out;
}

StatusOr<std::vector<std::string>> StringList(const Json& j, const char* field,
                                              std::string_view where) {
  std::vector<std::string> out;
  auto it = j.find(field);
  if (it == j.end() || it->is_null()) return out;
  if (!it->is_array()) {
    return InvalidArgumentError(std::string(where) + "." + field + " must be an array of strings");
  }
  for (const Json& v : *it) {
    if (!v.is_string()) {
      return InvalidArgumentError(std::string(where) + "." + field +
                                  " must be an array of strings");
    }
    out.push_back(v.get<std::string>());
  }
  return out;
}

StatusOr<Json> ParseObject(std::string_view bytes, size_t limit, std::string_view what) {
  if (bytes.size() > limit) {
    return ResourceExhaustedError(std::string(what) + " is " + std::to_string(bytes.size()) +
                                  " bytes; the limit is " + std::to_string(limit));
  }
  auto j = ParseJson(bytes);
  if (!j.ok()) return Annotate(j.status(), std::string(what) + " is not valid JSON");
  if (!j->is_object()) return InvalidArgumentError(std::string(what) + " must be a JSON object");
  return *std::move(j);
}

Status CheckSchemaVersion(const Json& j, std::string_view what) {
  auto it = j.find("schemaVersion");
  if (it == j.end() || !it->is_number_integer() || it->get<int64_t>() != 2) {
    return InvalidArgumentError(std::string(what) + ": schemaVersion must be 2");
  }
  return OkStatus();
}

StatusOr<std::optional<Descriptor>> OptDescriptor(const Json& j, const char* field,
                                                  std::string_view where) {
  auto it = j.find(field);
  if (it == j.end() || it->is_null()) return std::optional<Descriptor>();
  ASSIGN_OR_RETURN(Descriptor d, ParseDescriptor(*it, std::string(where) + "." + field));
  return std::optional<Descriptor>(std::move(d));
}

void PutIfSet(Json& j, const char* field, const std::string& value) {
  if (!value.empty()) j[field] = value;
}

}  // namespace

bool IsIndexMediaType(std::string_view media_type) {
  return media_type == mt::kOciIndex || media_type == mt::kDockerManifestList;
}

bool IsManifestMediaType(std::string_view media_type) {
  return media_type == mt::kOciManifest || media_type == mt::kDockerManifest ||
         IsIndexMediaType(media_type);
}

StatusOr<LayerCompression> LayerCompressionOf(std::string_view media_type) {
  if (media_type == mt::kOciLayerTar) return LayerCompression::kNone;
  if (media_type == mt::kOciLayerTarGzip || media_type == mt::kDockerLayerTarGzip ||
      media_type == mt::kDockerForeignLayerTarGzip) {
    return LayerCompression::kGzip;
  }
  if (media_type == mt::kOciLayerTarZstd) return LayerCompression::kZstd;
  return InvalidArgumentError("'" + std::string(media_type) +
                              "' is not a layer media type tandem knows (tar, tar+gzip, "
                              "tar+zstd)");
}

StatusOr<Descriptor> ParseDescriptor(const Json& j, std::string_view where) {
  const std::string w(where);
  if (!j.is_object()) return InvalidArgumentError(w + " must be a descriptor object");
  Descriptor d;
  ASSIGN_OR_RETURN(d.media_type, OptString(j, "mediaType", w));
  if (!ValidMediaType(d.media_type)) {
    return InvalidArgumentError(w + ".mediaType must be a media type (type/subtype), got '" +
                                d.media_type + "'");
  }
  ASSIGN_OR_RETURN(d.digest, OptString(j, "digest", w));
  if (Status s = ValidateImageDigest(d.digest); !s.ok()) {
    return Annotate(s, w + ".digest");
  }
  auto size = j.find("size");
  if (size == j.end() || !size->is_number_integer() || size->get<int64_t>() < 0) {
    return InvalidArgumentError(w + ".size must be a non-negative integer");
  }
  d.size = size->get<int64_t>();
  ASSIGN_OR_RETURN(d.annotations, StringMap(j, "annotations", w));
  ASSIGN_OR_RETURN(d.artifact_type, OptString(j, "artifactType", w));
  if (auto p = j.find("platform"); p != j.end() && !p->is_null()) {
    if (!p->is_object()) return InvalidArgumentError(w + ".platform must be an object");
    Platform platform;
    ASSIGN_OR_RETURN(platform.architecture, OptString(*p, "architecture", w + ".platform"));
    ASSIGN_OR_RETURN(platform.os, OptString(*p, "os", w + ".platform"));
    ASSIGN_OR_RETURN(platform.variant, OptString(*p, "variant", w + ".platform"));
    d.platform = std::move(platform);
  }
  return d;
}

StatusOr<Manifest> ParseManifest(std::string_view bytes) {
  ASSIGN_OR_RETURN(Json j, ParseObject(bytes, kMaxManifestBytes, "manifest"));
  RETURN_IF_ERROR(CheckSchemaVersion(j, "manifest"));
  Manifest m;
  ASSIGN_OR_RETURN(m.media_type, OptString(j, "mediaType", "manifest"));
  if (!m.media_type.empty() && m.media_type != mt::kOciManifest &&
      m.media_type != mt::kDockerManifest) {
    return InvalidArgumentError("manifest: mediaType '" + m.media_type +
                                "' is not an image manifest media type");
  }
  ASSIGN_OR_RETURN(m.artifact_type, OptString(j, "artifactType", "manifest"));
  auto config = j.find("config");
  if (config == j.end()) return InvalidArgumentError("manifest: config is missing");
  ASSIGN_OR_RETURN(m.config, ParseDescriptor(*config, "manifest.config"));
  auto layers = j.find("layers");
  if (layers == j.end() || !layers->is_array()) {
    return InvalidArgumentError("manifest: layers must be an array");
  }
  for (size_t i = 0; i < layers->size(); ++i) {
    ASSIGN_OR_RETURN(Descriptor d,
                     ParseDescriptor((*layers)[i], "manifest.layers[" + std::to_string(i) + "]"));
    m.layers.push_back(std::move(d));
  }
  ASSIGN_OR_RETURN(m.subject, OptDescriptor(j, "subject", "manifest"));
  ASSIGN_OR_RETURN(m.annotations, StringMap(j, "annotations", "manifest"));
  return m;
}

StatusOr<Index> ParseIndex(std::string_view bytes) {
  ASSIGN_OR_RETURN(Json j, ParseObject(bytes, kMaxManifestBytes, "index"));
  RETURN_IF_ERROR(CheckSchemaVersion(j, "index"));
  Index index;
  ASSIGN_OR_RETURN(index.media_type, OptString(j, "mediaType", "index"));
  if (!index.media_type.empty() && !IsIndexMediaType(index.media_type)) {
    return InvalidArgumentError("index: mediaType '" + index.media_type +
                                "' is not an index media type");
  }
  ASSIGN_OR_RETURN(index.artifact_type, OptString(j, "artifactType", "index"));
  auto manifests = j.find("manifests");
  if (manifests == j.end() || !manifests->is_array()) {
    return InvalidArgumentError("index: manifests must be an array");
  }
  for (size_t i = 0; i < manifests->size(); ++i) {
    ASSIGN_OR_RETURN(Descriptor d, ParseDescriptor((*manifests)[i],
                                                   "index.manifests[" + std::to_string(i) + "]"));
    index.manifests.push_back(std::move(d));
  }
  ASSIGN_OR_RETURN(index.subject, OptDescriptor(j, "subject", "index"));
  ASSIGN_OR_RETURN(index.annotations, StringMap(j, "annotations", "index"));
  return index;
}

StatusOr<ParsedManifest> ParseAnyManifest(std::string_view bytes, std::string_view content_type) {
  // Media type parameters ("; charset=utf-8") are not part of the type.
  if (size_t semi = content_type.find(';'); semi != std::string_view::npos) {
    content_type = content_type.substr(0, semi);
    while (!content_type.empty() && content_type.back() == ' ') content_type.remove_suffix(1);
  }
  ASSIGN_OR_RETURN(Json j, ParseObject(bytes, kMaxManifestBytes, "manifest"));
  ASSIGN_OR_RETURN(std::string body_type, OptString(j, "mediaType", "manifest"));
  if (!body_type.empty() && !IsManifestMediaType(body_type)) {
    return InvalidArgumentError("manifest: mediaType '" + body_type +
                                "' is not a manifest media type tandem stores (OCI image "
                                "manifest or index, Docker schema-2 manifest or list)");
  }
  // Content types a client may send that say nothing specific.
  bool generic = content_type.empty() || content_type == "application/json" ||
                 content_type == "application/octet-stream";
  if (!generic && !IsManifestMediaType(content_type)) {
    return InvalidArgumentError("manifest: Content-Type '" + std::string(content_type) +
                                "' is not a manifest media type");
  }
  if (!generic && !body_type.empty() && body_type != content_type) {
    return InvalidArgumentError("manifest: Content-Type '" + std::string(content_type) +
                                "' does not match the body's mediaType '" + body_type + "'");
  }
  std::string inferred =
      j.contains("manifests") ? std::string(mt::kOciIndex) : std::string(mt::kOciManifest);
  std::string type = !body_type.empty() ? body_type : inferred;
  if (body_type.empty() && !generic && content_type != inferred) {
    // Stored manifests carry no separate media type: it must be readable
    // from the body (Docker schema 2 always has mediaType).
    return InvalidArgumentError("manifest: Content-Type '" + std::string(content_type) +
                                "' needs the body's mediaType to say so too");
  }
  ParsedManifest out;
  out.media_type = type;
  if (IsIndexMediaType(type)) {
    out.kind = ManifestKind::kIndex;
    ASSIGN_OR_RETURN(Index index, ParseIndex(bytes));
    out.references = std::move(index.manifests);
  } else {
    out.kind = ManifestKind::kImage;
    ASSIGN_OR_RETURN(Manifest m, ParseManifest(bytes));
    out.references.push_back(std::move(m.config));
    for (Descriptor& d : m.layers) out.references.push_back(std::move(d));
  }
  return out;
}

StatusOr<std::string> ManifestMediaType(std::string_view bytes) {
  ASSIGN_OR_RETURN(Json j, ParseObject(bytes, kMaxManifestBytes, "manifest"));
  ASSIGN_OR_RETURN(std::string body_type, OptString(j, "mediaType", "manifest"));
  if (!body_type.empty()) return body_type;
  return j.contains("manifests") ? std::string(mt::kOciIndex) : std::string(mt::kOciManifest);
}

StatusOr<ImageConfig> ParseImageConfig(std::string_view bytes) {
  ASSIGN_OR_RETURN(Json j, ParseObject(bytes, kMaxConfigBytes, "image config"));
  ImageConfig c;
  ASSIGN_OR_RETURN(c.architecture, OptString(j, "architecture", "config"));
  ASSIGN_OR_RETURN(c.os, OptString(j, "os", "config"));
  ASSIGN_OR_RETURN(c.created, OptString(j, "created", "config"));
  if (auto cfg = j.find("config"); cfg != j.end() && !cfg->is_null()) {
    if (!cfg->is_object()) return InvalidArgumentError("config.config must be an object");
    ASSIGN_OR_RETURN(c.user, OptString(*cfg, "User", "config.config"));
    ASSIGN_OR_RETURN(c.env, StringList(*cfg, "Env", "config.config"));
    ASSIGN_OR_RETURN(c.entrypoint, StringList(*cfg, "Entrypoint", "config.config"));
    ASSIGN_OR_RETURN(c.cmd, StringList(*cfg, "Cmd", "config.config"));
    ASSIGN_OR_RETURN(c.working_dir, OptString(*cfg, "WorkingDir", "config.config"));
    ASSIGN_OR_RETURN(c.labels, StringMap(*cfg, "Labels", "config.config"));
  }
  auto rootfs = j.find("rootfs");
  if (rootfs == j.end() || !rootfs->is_object()) {
    return InvalidArgumentError("config.rootfs must be an object");
  }
  ASSIGN_OR_RETURN(c.rootfs_type, OptString(*rootfs, "type", "config.rootfs"));
  if (c.rootfs_type != "layers") {
    return InvalidArgumentError("config.rootfs.type must be 'layers'");
  }
  ASSIGN_OR_RETURN(c.diff_ids, StringList(*rootfs, "diff_ids", "config.rootfs"));
  for (size_t i = 0; i < c.diff_ids.size(); ++i) {
    if (Status s = ValidateImageDigest(c.diff_ids[i]); !s.ok()) {
      return Annotate(s, "config.rootfs.diff_ids[" + std::to_string(i) + "]");
    }
  }
  return c;
}

Json DescriptorToJson(const Descriptor& d) {
  Json j = Json::object();
  j["mediaType"] = d.media_type;
  j["digest"] = d.digest;
  j["size"] = d.size;
  if (!d.annotations.empty()) j["annotations"] = d.annotations;
  PutIfSet(j, "artifactType", d.artifact_type);
  if (d.platform) {
    Json p = {{"architecture", d.platform->architecture}, {"os", d.platform->os}};
    PutIfSet(p, "variant", d.platform->variant);
    j["platform"] = std::move(p);
  }
  return j;
}

std::string SerializeManifest(const Manifest& m) {
  Json j = Json::object();
  j["schemaVersion"] = m.schema_version;
  PutIfSet(j, "mediaType", m.media_type);
  PutIfSet(j, "artifactType", m.artifact_type);
  j["config"] = DescriptorToJson(m.config);
  j["layers"] = Json::array();
  for (const Descriptor& d : m.layers) j["layers"].push_back(DescriptorToJson(d));
  if (m.subject) j["subject"] = DescriptorToJson(*m.subject);
  if (!m.annotations.empty()) j["annotations"] = m.annotations;
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string SerializeIndex(const Index& index) {
  Json j = Json::object();
  j["schemaVersion"] = index.schema_version;
  PutIfSet(j, "mediaType", index.media_type);
  PutIfSet(j, "artifactType", index.artifact_type);
  j["manifests"] = Json::array();
  for (const Descriptor& d : index.manifests) j["manifests"].push_back(DescriptorToJson(d));
  if (index.subject) j["subject"] = DescriptorToJson(*index.subject);
  if (!index.annotations.empty()) j["annotations"] = index.annotations;
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string SerializeImageConfig(const ImageConfig& c) {
  Json j = Json::object();
  j["architecture"] = c.architecture;
  j["os"] = c.os;
  PutIfSet(j, "created", c.created);
  Json cfg = Json::object();
  PutIfSet(cfg, "User", c.user);
  if (!c.env.empty()) cfg["Env"] = c.env;
  if (!c.entrypoint.empty()) cfg["Entrypoint"] = c.entrypoint;
  if (!c.cmd.empty()) cfg["Cmd"] = c.cmd;
  PutIfSet(cfg, "WorkingDir", c.working_dir);
  if (!c.labels.empty()) cfg["Labels"] = c.labels;
  j["config"] = std::move(cfg);
  j["rootfs"] = {{"type", c.rootfs_type}, {"diff_ids", c.diff_ids}};
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace tandem::images
