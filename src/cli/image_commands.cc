// `tandem images ...`: list, inspect, tag, rm and gc over the control plane's
// OCI registry API (/v2/, docs/images.md) and POST /api/v1/images/gc. A
// reference is `repo[:tag]` or `repo@sha256:...`; a registry host prefix is
// ignored (the images are those of --server).
#include <iostream>
#include <memory>

#include "cli/context.h"
#include "glue/images/manifest.h"
#include "glue/images/reference.h"

namespace tandem::cli {
namespace {

namespace mt = images::media_types;

std::string Accept() {
  return std::string(mt::kOciManifest) + ", " + std::string(mt::kOciIndex) + ", " +
         std::string(mt::kDockerManifest) + ", " + std::string(mt::kDockerManifestList);
}

StatusOr<http::ClientResponse> V2(ApiClient& client, const std::string& method,
                                  const std::string& path, std::string body = "",
                                  std::string content_type = "") {
  http::ClientRequest req;
  req.method = method;
  req.url = "/v2/" + path;
  req.body = std::move(body);
  req.headers["Accept"] = Accept();
  if (!content_type.empty()) req.headers["Content-Type"] = content_type;
  return client.Request(std::move(req));
}

StatusOr<Json> JsonOf(const http::ClientResponse& res) { return ParseJson(res.body); }

StatusOr<std::vector<std::string>> Tags(ApiClient& client, const std::string& repo) {
  ASSIGN_OR_RETURN(http::ClientResponse res, V2(client, "GET", repo + "/tags/list?n=10000"));
  ASSIGN_OR_RETURN(Json j, JsonOf(res));
  std::vector<std::string> out;
  if (j.contains("tags") && j["tags"].is_array()) {
    for (const Json& t : j["tags"]) out.push_back(t.get<std::string>());
  }
  return out;
}

// {repository, tag, digest, media_type, size} of a manifest.
StatusOr<Json> ManifestRow(ApiClient& client, const std::string& repo, const std::string& ref) {
  ASSIGN_OR_RETURN(http::ClientResponse res, V2(client, "GET", repo + "/manifests/" + ref));
  return Json{{"repository", repo},
              {"tag", images::LooksLikeDigest(ref) ? Json(nullptr) : Json(ref)},
              {"digest", res.headers["docker-content-digest"]},
              {"media_type", res.headers["content-type"]},
              {"size", res.body.size()}};
}

Status List(Context& ctx, Format f, const std::string& only_repo) {
  ApiClient client = ctx.Client();
  std::vector<std::string> repos;
  if (!only_repo.empty()) {
    RETURN_IF_ERROR(images::ValidateRepository(only_repo));
    repos.push_back(only_repo);
  } else {
    ASSIGN_OR_RETURN(http::ClientResponse res, V2(client, "GET", "_catalog?n=10000"));
    ASSIGN_OR_RETURN(Json j, JsonOf(res));
    for (const Json& r : j.value("repositories", Json::array())) {
      repos.push_back(r.get<std::string>());
    }
  }
  Json rows = Json::array();
  for (const std::string& repo : repos) {
    ASSIGN_OR_RETURN(std::vector<std::string> tags, Tags(client, repo));
    for (const std::string& tag : tags) {
      ASSIGN_OR_RETURN(Json row, ManifestRow(client, repo, tag));
      rows.push_back(std::move(row));
    }
  }
  PrintList(std::cout, f, Json{{"images", rows}}, rows,
            {{"REPOSITORY", "repository"}, {"TAG", "tag"}, {"DIGEST", "digest"},
             {"SIZE", "size"}});
  return OkStatus();
}

Status Inspect(Context& ctx, Format f, const std::string& text) {
  ASSIGN_OR_RETURN(images::Reference ref, images::ParseReference(text));
  ApiClient client = ctx.Client();
  ASSIGN_OR_RETURN(http::ClientResponse res,
                   V2(client, "GET", ref.repository + "/manifests/" + ref.TagOrDigest()));
  Json out = {{"reference", ref.Name()},
              {"digest", res.headers["docker-content-digest"]},
              {"media_type", res.headers["content-type"]}};
  ASSIGN_OR_RETURN(Json manifest, ParseJson(res.body));
  out["manifest"] = manifest;
  if (!images::IsIndexMediaType(res.headers["content-type"])) {
    ASSIGN_OR_RETURN(images::Manifest m, images::ParseManifest(res.body));
    int64_t total = m.config.size;
    Json layers = Json::array();
    for (const images::Descriptor& d : m.layers) {
      layers.push_back({{"digest", d.digest}, {"size", d.size}, {"media_type", d.media_type}});
      total += d.size;
    }
    out["layers"] = layers;
    out["size"] = total;
    ASSIGN_OR_RETURN(http::ClientResponse cfg,
                     V2(client, "GET", ref.repository + "/blobs/" + m.config.digest));
    ASSIGN_OR_RETURN(images::ImageConfig c, images::ParseImageConfig(cfg.body));
    out["config"] = {{"digest", m.config.digest}, {"architecture", c.architecture},
                     {"os", c.os},                {"entrypoint", c.entrypoint},
                     {"cmd", c.cmd},              {"env", c.env},
                     {"working_dir", c.working_dir}, {"user", c.user},
                     {"labels", c.labels}};
  }
  if (f == Format::kTable) out.erase("manifest");
  PrintObject(std::cout, f, out);
  return OkStatus();
}

Status Tag(Context& ctx, Format f, const std::string& src_text, const std::string& dst_text) {
  ASSIGN_OR_RETURN(images::Reference src, images::ParseReference(src_text));
  ASSIGN_OR_RETURN(images::Reference dst, images::ParseReference(dst_text));
  if (!dst.digest.empty()) {
    return InvalidArgumentError("the new name '" + dst_text + "' must be repo:tag, not a digest");
  }
  ApiClient client = ctx.Client();
  ASSIGN_OR_RETURN(http::ClientResponse res,
                   V2(client, "GET", src.repository + "/manifests/" + src.TagOrDigest()));
  std::string media_type = res.headers["content-type"];
  if (dst.repository != src.repository) {
    // Another repository: mount what the manifest names first.
    if (images::IsIndexMediaType(media_type)) {
      return UnimplementedError("tagging an index into another repository is not supported; "
                                "copy it with skopeo");
    }
    ASSIGN_OR_RETURN(images::Manifest m, images::ParseManifest(res.body));
    std::vector<std::string> digests = {m.config.digest};
    for (const auto& l : m.layers) digests.push_back(l.digest);
    for (const std::string& d : digests) {
      ASSIGN_OR_RETURN(http::ClientResponse mounted,
                       V2(client, "POST",
                          dst.repository + "/blobs/uploads/?mount=" + d + "&from=" +
                              src.repository));
      if (mounted.status != 201) {
        if (std::string loc = mounted.headers["location"]; !loc.empty()) {
          http::ClientRequest cancel;
          cancel.method = "DELETE";
          cancel.url = loc;
          (void)client.Request(std::move(cancel));
        }
        return FailedPreconditionError("could not mount " + d + " from " + src.repository +
                                       " into " + dst.repository);
      }
    }
  }
  ASSIGN_OR_RETURN(http::ClientResponse put, V2(client, "PUT", dst.repository + "/manifests/" +
                                                                   dst.tag,
                                                res.body, media_type));
  PrintObject(std::cout, f,
              {{"reference", dst.Name()}, {"digest", put.headers["docker-content-digest"]}});
  return OkStatus();
}

Status Remove(Context& ctx, Format f, const std::string& text) {
  ASSIGN_OR_RETURN(images::Reference ref, images::ParseReference(text));
  ApiClient client = ctx.Client();
  ASSIGN_OR_RETURN(http::ClientResponse res,
                   V2(client, "DELETE", ref.repository + "/manifests/" + ref.TagOrDigest()));
  PrintObject(std::cout, f, {{"deleted", ref.Name()}});
  return OkStatus();
}

}  // namespace

void AddImageCommands(CLI::App& app, Context& ctx) {
  CLI::App* img = app.add_subcommand("images", "OCI images in the control plane's registry (/v2/)");
  img->require_subcommand(1);
  img->footer(
      "Examples:\n  tandem images build -f image.yaml -t team/app:1\n"
      "  tandem images list\n  tandem images inspect team/app:1\n"
      "  tandem images tag team/app:1 team/app:stable\n  tandem images rm team/app:old\n"
      "  # push and pull with any OCI client, the token as the password:\n"
      "  skopeo copy --dest-tls-verify=false --dest-creds me:$TANDEM_TOKEN \\\n"
      "    oci:./layout:1 docker://127.0.0.1:7070/team/app:1");

  auto list = img->add_subcommand("list", "Repositories and their tags (or one REPOSITORY's)");
  auto repo = std::make_shared<std::string>();
  list->add_option("REPOSITORY", *repo, "Only this repository, e.g. team/app");
  list->footer("Examples:\n  tandem images list\n  tandem images list team/app -o json");
  list->callback([&ctx, repo] { Run(ctx, [&](Format f) { return List(ctx, f, *repo); }); });

  auto inspect = img->add_subcommand("inspect", "Manifest, layers and config of an image");
  auto iref = std::make_shared<std::string>();
  inspect->add_option("REFERENCE", *iref, "repo[:tag] or repo@sha256:...")->required();
  inspect->footer(
      "Examples:\n  tandem images inspect team/app:1\n  tandem images inspect team/app@sha256:... -o json");
  inspect->callback([&ctx, iref] { Run(ctx, [&](Format f) { return Inspect(ctx, f, *iref); }); });

  auto tag = img->add_subcommand("tag", "Give an image another tag (in its or another repository)");
  auto src = std::make_shared<std::string>();
  auto dst = std::make_shared<std::string>();
  tag->add_option("SOURCE", *src, "repo[:tag] or repo@sha256:...")->required();
  tag->add_option("TARGET", *dst, "repo:tag")->required();
  tag->footer(
      "Examples:\n  tandem images tag team/app:1 team/app:stable\n"
      "  tandem images tag team/app:1 other/app:1   # blobs are mounted, not copied");
  tag->callback([&ctx, src, dst] { Run(ctx, [&](Format f) { return Tag(ctx, f, *src, *dst); }); });

  auto rm = img->add_subcommand(
      "rm", "Remove a tag (the manifest stays), or by digest a manifest and all its tags");
  auto rref = std::make_shared<std::string>();
  rm->add_option("REFERENCE", *rref, "repo:tag or repo@sha256:...")->required();
  rm->footer("Examples:\n  tandem images rm team/app:old\n  tandem images rm team/app@sha256:...");
  rm->callback([&ctx, rref] { Run(ctx, [&](Format f) { return Remove(ctx, f, *rref); }); });

  auto gc = img->add_subcommand(
      "gc", "Free blobs no manifest references, older than the grace period (admins)");
  auto grace = std::make_shared<int64_t>(3600);
  gc->add_option("--grace-seconds", *grace, "Keep blobs pushed more recently than this");
  gc->footer("Examples:\n  tandem images gc\n  tandem images gc --grace-seconds 0");
  gc->callback([&ctx, grace] {
    Run(ctx, [&](Format f) -> Status {
      ApiClient client = ctx.Client();
      ASSIGN_OR_RETURN(Json out,
                       client.Call("POST", "/api/v1/images/gc", {{"grace_seconds", *grace}}));
      PrintObject(std::cout, f, out);
      return OkStatus();
    });
  });
}

}  // namespace tandem::cli
