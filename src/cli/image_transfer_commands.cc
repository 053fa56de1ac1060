// `tandem images build|push|pull|import`: building images reproducibly
// (glue/imagefs/image_build.h) and moving them between tandem's /v2/ API and
// OCI layout directories (`oci:DIR[:NAME]`) or docker-archive tarballs
// (`docker-archive:FILE`, what `docker save` writes).
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "cli/context.h"
#include "cli/registry_client.h"
#include "cli/resource_commands.h"
#include "common/ids.h"
#include "glue/images/manifest.h"
#include "glue/images/reference.h"
#include "glue/imagefs/image_build.h"
#include "glue/imagefs/oci_layout.h"
#include "glue/store/archive.h"

namespace tandem::cli {
namespace {

namespace fs = std::filesystem;

// `oci:DIR[:NAME]`.
struct LayoutRef {
  std::string dir;
  std::string name;
};

StatusOr<LayoutRef> ParseLayoutRef(const std::string& text) {
  if (!text.starts_with("oci:")) {
    return InvalidArgumentError("'" + text + "' is not an OCI layout (oci:DIR[:NAME])");
  }
  LayoutRef r;
  std::string rest = text.substr(4);
  size_t colon = rest.find(':');
  r.dir = rest.substr(0, colon);
  if (colon != std::string::npos) r.name = rest.substr(colon + 1);
  if (r.dir.empty()) return InvalidArgumentError("'" + text + "' names no directory");
  r.dir = fs::absolute(r.dir).lexically_normal().string();
  return r;
}

// A scratch directory removed on destruction.
class TempDir {
 public:
  TempDir() {
    path_ = (fs::temp_directory_path() / ("tandem-images-" + NewUlid(Clock::Real()))).string();
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

StatusOr<images::Reference> TandemRef(const std::string& text) {
  ASSIGN_OR_RETURN(images::Reference ref, images::ParseReference(text));
  if (!ref.registry.empty()) {
    return InvalidArgumentError("'" + text +
                                "' names a registry host; tandem's own is the --server");
  }
  return ref;
}

// Copies image `manifest_digest` (an image manifest) of `repo` from tandem
// into `layout` (blobs it already has are skipped).
StatusOr<images::Manifest> PullInto(RegistryClient& reg, const std::string& repo,
                                    const std::string& reference, imagefs::OciLayout& layout,
                                    images::Descriptor* descriptor) {
  ASSIGN_OR_RETURN(PulledManifest m, reg.GetManifest(repo, reference));
  ASSIGN_OR_RETURN(images::Manifest manifest, images::ParseManifest(m.bytes));
  std::vector<std::string> blobs = {manifest.config.digest};
  for (const auto& l : manifest.layers) blobs.push_back(l.digest);
  for (const std::string& d : blobs) {
    if (!layout.HasBlob(d)) RETURN_IF_ERROR(reg.PullBlob(repo, d, layout.BlobPath(d)));
  }
  RETURN_IF_ERROR(layout.AddBlobBytes(m.bytes).status());
  descriptor->media_type = m.media_type.empty() ? std::string(images::media_types::kOciManifest)
                                                : m.media_type;
  descriptor->digest = m.digest;
  descriptor->size = static_cast<int64_t>(m.bytes.size());
  return manifest;
}

// Pushes the image `desc` of `layout` to tandem as `ref`; returns its digest.
StatusOr<std::string> PushFrom(RegistryClient& reg, const imagefs::OciLayout& layout,
                               const images::Descriptor& desc, const images::Reference& ref) {
  ASSIGN_OR_RETURN(std::string bytes, layout.ReadBlob(desc.digest, images::kMaxManifestBytes));
  ASSIGN_OR_RETURN(images::Manifest manifest, images::ParseManifest(bytes));
  std::vector<std::string> blobs = {manifest.config.digest};
  for (const auto& l : manifest.layers) blobs.push_back(l.digest);
  for (const std::string& d : blobs) {
    if (!layout.HasBlob(d)) {
      return NotFoundError("blob " + d + " of the image is not in " + layout.dir());
    }
    RETURN_IF_ERROR(reg.PushBlob(ref.repository, d, layout.BlobPath(d)));
  }
  std::string media = manifest.media_type.empty() ? desc.media_type : manifest.media_type;
  if (media.empty()) media = images::media_types::kOciManifest;
  return reg.PushManifest(ref.repository, ref.tag.empty() ? desc.digest : ref.tag, media, bytes);
}

// A docker-archive (docker save) converted into an OCI layout: its
// manifest.json names the config and the layer tars (uncompressed, or
// gzip'd); the layers keep their bytes, so their digests are the files'.
StatusOr<images::Descriptor> DockerArchiveToLayout(const std::string& file,
                                                   imagefs::OciLayout& layout,
                                                   const std::string& scratch) {
  const std::string dir = scratch + "/archive";
  RETURN_IF_ERROR(store::UnpackArchive(file, dir));
  std::ifstream in(dir + "/manifest.json");
  if (!in) return InvalidArgumentError("'" + file + "' has no manifest.json: not a docker-archive");
  std::stringstream ss;
  ss << in.rdbuf();
  auto j = ParseJson(ss.str());
  if (!j.ok() || !j->is_array() || j->empty() || !(*j)[0].is_object()) {
    return InvalidArgumentError("manifest.json of '" + file + "' is not a docker-archive manifest");
  }
  if (j->size() > 1) {
    return InvalidArgumentError("'" + file + "' holds " + std::to_string(j->size()) +
                                " images; tandem imports one at a time");
  }
  const Json& entry = (*j)[0];
  auto inside = [&](const std::string& rel) -> StatusOr<std::string> {
    if (rel.empty() || rel.front() == '/' || rel.find("..") != std::string::npos) {
      return InvalidArgumentError("docker-archive path '" + rel + "' is not inside it");
    }
    return dir + "/" + rel;
  };
  ASSIGN_OR_RETURN(std::string config_path, inside(entry.value("Config", "")));
  images::Manifest manifest;
  manifest.media_type = images::media_types::kOciManifest;
  {
    std::ifstream c(config_path, std::ios::binary);
    if (!c) return InvalidArgumentError("docker-archive config '" + config_path + "' is missing");
    std::stringstream cs;
    cs << c.rdbuf();
    RETURN_IF_ERROR(images::ParseImageConfig(cs.str()).status());
    ASSIGN_OR_RETURN(store::BlobInfo info, layout.AddBlobBytes(cs.str()));
    manifest.config.media_type = images::media_types::kOciConfig;
    manifest.config.digest = info.digest;
    manifest.config.size = static_cast<int64_t>(info.size);
  }
  if (!entry.contains("Layers") || !entry["Layers"].is_array()) {
    return InvalidArgumentError("manifest.json of '" + file + "' lists no Layers");
  }
  for (const Json& l : entry["Layers"]) {
    if (!l.is_string()) return InvalidArgumentError("a Layers entry is not a string");
    ASSIGN_OR_RETURN(std::string path, inside(l.get<std::string>()));
    std::ifstream probe(path, std::ios::binary);
    unsigned char magic[2] = {0, 0};
    probe.read(reinterpret_cast<char*>(magic), 2);
    const bool gz = magic[0] == 0x1f && magic[1] == 0x8b;
    ASSIGN_OR_RETURN(store::BlobInfo info, layout.AddBlobFile(path));
    images::Descriptor d;
    d.media_type = gz ? images::media_types::kOciLayerTarGzip : images::media_types::kOciLayerTar;
    d.digest = info.digest;
    d.size = static_cast<int64_t>(info.size);
    manifest.layers.push_back(std::move(d));
  }
  const std::string bytes = images::SerializeManifest(manifest);
  ASSIGN_OR_RETURN(store::BlobInfo m, layout.AddBlobBytes(bytes));
  images::Descriptor desc;
  desc.media_type = images::media_types::kOciManifest;
  desc.digest = m.digest;
  desc.size = static_cast<int64_t>(m.size);
  return desc;
}

void PrintResult(Format f, const Json& j) {
  if (f == Format::kTable) {
    std::cout << j.value("reference", "") << (j.value("reference", "").empty() ? "" : " ")
              << j.value("digest", "") << "\n";
  } else {
    PrintObject(std::cout, f, j);
  }
}

}  // namespace

void AddImageTransferCommands(CLI::App* images, Context& ctx) {
  struct BuildFlags {
    std::string file, tag, output;
  };
  auto bf = std::make_shared<BuildFlags>();
  CLI::App* build = images->add_subcommand(
      "build", "Build an image from a YAML spec, reproducibly (same inputs, same digest)");
  build->add_option("-f,--file", bf->file, "The image spec (image.yaml)")->required();
  build->add_option("-t,--tag", bf->tag, "Push it to tandem as repo:tag");
  build->add_option("--output", bf->output, "Also write it to an OCI layout: oci:DIR[:NAME]");
  build->footer(
      "Examples:\n  tandem images build -f image.yaml -t team/train:1\n  tandem images build -f "
      "image.yaml --output oci:./out:train\n\nLayer mtimes are SOURCE_DATE_EPOCH (default 0).");
  build->callback([&ctx, bf] {
    Run(ctx, [&](Format f) -> Status {
      if (bf->tag.empty() && bf->output.empty()) {
        return InvalidArgumentError("nothing to do: give -t repo:tag and/or --output oci:DIR");
      }
      ASSIGN_OR_RETURN(Json spec_json, ReadSpecFile(bf->file, "image spec"));
      const std::string spec_dir = fs::absolute(bf->file).parent_path().string();
      ASSIGN_OR_RETURN(imagefs::BuildSpec spec,
                       imagefs::BuildSpec::FromJson(spec_json, spec_dir));
      std::optional<images::Reference> target;
      if (!bf->tag.empty()) {
        ASSIGN_OR_RETURN(target, TandemRef(bf->tag));
      }
      TempDir scratch;
      LayoutRef out{scratch.path() + "/layout", ""};
      if (!bf->output.empty()) {
        ASSIGN_OR_RETURN(out, ParseLayoutRef(bf->output));
      }
      if (out.name.empty() && target) out.name = target->tag;
      ASSIGN_OR_RETURN(imagefs::OciLayout layout, imagefs::OciLayout::Open(out.dir, true));
      RegistryClient reg(ctx.server, ctx.token, ctx.ca_file);
      std::optional<imagefs::BaseImage> base;
      if (spec.from != "scratch") {
        ASSIGN_OR_RETURN(images::Reference from, TandemRef(spec.from));
        images::Descriptor ignored;
        ASSIGN_OR_RETURN(images::Manifest m,
                         PullInto(reg, from.repository, from.TagOrDigest(), layout, &ignored));
        ASSIGN_OR_RETURN(std::string config,
                         layout.ReadBlob(m.config.digest, images::kMaxConfigBytes));
        ASSIGN_OR_RETURN(images::ImageConfig c, images::ParseImageConfig(config));
        base = imagefs::BaseImage{std::move(m), std::move(c)};
      }
      ASSIGN_OR_RETURN(int64_t mtime, imagefs::SourceDateEpoch());
      ASSIGN_OR_RETURN(images::Descriptor desc,
                       imagefs::BuildImage(spec, base, layout, out.name, mtime));
      Json result = {{"digest", desc.digest}};
      if (!bf->output.empty()) result["output"] = "oci:" + out.dir + ":" + out.name;
      if (target) {
        ASSIGN_OR_RETURN(std::string pushed, PushFrom(reg, layout, desc, *target));
        result["reference"] = target->repository + ":" + target->tag;
        result["digest"] = pushed;
      }
      PrintResult(f, result);
      return OkStatus();
    });
  });

  struct MoveFlags {
    std::string from, to;
  };
  auto pf = std::make_shared<MoveFlags>();
  CLI::App* push = images->add_subcommand("push", "Push an image from an OCI layout to tandem");
  push->add_option("source", pf->from, "oci:DIR[:NAME]")->required();
  push->add_option("target", pf->to, "repo:tag in tandem")->required();
  push->footer("Examples:\n  tandem images push oci:./out:train team/train:1");
  push->callback([&ctx, pf] {
    Run(ctx, [&](Format f) -> Status {
      ASSIGN_OR_RETURN(LayoutRef src, ParseLayoutRef(pf->from));
      ASSIGN_OR_RETURN(images::Reference ref, TandemRef(pf->to));
      ASSIGN_OR_RETURN(imagefs::OciLayout layout, imagefs::OciLayout::Open(src.dir, false));
      ASSIGN_OR_RETURN(images::Descriptor desc, layout.FindManifest(src.name));
      RegistryClient reg(ctx.server, ctx.token, ctx.ca_file);
      ASSIGN_OR_RETURN(std::string digest, PushFrom(reg, layout, desc, ref));
      PrintResult(f, {{"reference", ref.repository + ":" + ref.tag}, {"digest", digest}});
      return OkStatus();
    });
  });

  auto lf = std::make_shared<MoveFlags>();
  CLI::App* pull = images->add_subcommand("pull", "Pull an image from tandem into an OCI layout");
  pull->add_option("source", lf->from, "repo:tag or repo@sha256:... in tandem")->required();
  pull->add_option("target", lf->to, "oci:DIR[:NAME]")->required();
  pull->footer("Examples:\n  tandem images pull team/train:1 oci:./copy:train");
  pull->callback([&ctx, lf] {
    Run(ctx, [&](Format f) -> Status {
      ASSIGN_OR_RETURN(images::Reference ref, TandemRef(lf->from));
      ASSIGN_OR_RETURN(LayoutRef dst, ParseLayoutRef(lf->to));
      ASSIGN_OR_RETURN(imagefs::OciLayout layout, imagefs::OciLayout::Open(dst.dir, true));
      RegistryClient reg(ctx.server, ctx.token, ctx.ca_file);
      images::Descriptor desc;
      RETURN_IF_ERROR(PullInto(reg, ref.repository, ref.TagOrDigest(), layout, &desc).status());
      if (!dst.name.empty()) desc.annotations[imagefs::kRefNameAnnotation] = dst.name;
      RETURN_IF_ERROR(layout.AddManifest(desc));
      PrintResult(f, {{"reference", "oci:" + dst.dir + ":" + dst.name}, {"digest", desc.digest}});
      return OkStatus();
    });
  });

  auto imf = std::make_shared<MoveFlags>();
  CLI::App* import = images->add_subcommand(
      "import", "Import an image from an OCI layout or a docker-archive into tandem");
  import->add_option("source", imf->from, "oci:DIR[:NAME] or docker-archive:FILE")->required();
  import->add_option("target", imf->to, "repo:tag in tandem")->required();
  import->footer(
      "Examples:\n  tandem images import docker-archive:train.tar team/train:1\n  tandem images "
      "import oci:./layout:train team/train:1");
  import->callback([&ctx, imf] {
    Run(ctx, [&](Format f) -> Status {
      ASSIGN_OR_RETURN(images::Reference ref, TandemRef(imf->to));
      RegistryClient reg(ctx.server, ctx.token, ctx.ca_file);
      std::string digest;
      if (imf->from.starts_with("docker-archive:")) {
        const std::string file = imf->from.substr(15);
        TempDir scratch;
        ASSIGN_OR_RETURN(imagefs::OciLayout layout,
                         imagefs::OciLayout::Open(scratch.path() + "/layout", true));
        ASSIGN_OR_RETURN(images::Descriptor desc,
                         DockerArchiveToLayout(file, layout, scratch.path()));
        ASSIGN_OR_RETURN(digest, PushFrom(reg, layout, desc, ref));
      } else {
        ASSIGN_OR_RETURN(LayoutRef src, ParseLayoutRef(imf->from));
        ASSIGN_OR_RETURN(imagefs::OciLayout layout, imagefs::OciLayout::Open(src.dir, false));
        ASSIGN_OR_RETURN(images::Descriptor desc, layout.FindManifest(src.name));
        ASSIGN_OR_RETURN(digest, PushFrom(reg, layout, desc, ref));
      }
      PrintResult(f, {{"reference", ref.repository + ":" + ref.tag}, {"digest", digest}});
      return OkStatus();
    });
  });
}

}  // namespace tandem::cli
