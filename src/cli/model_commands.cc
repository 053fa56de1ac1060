// `tandem models ...`: list, get, versions, alias, register, tag.
#include <filesystem>
#include <memory>

#include "cli/context.h"
#include "cli/list_flags.h"
#include "common/clock.h"
#include "common/ids.h"
#include "common/uri.h"
#include "glue/store/archive.h"

namespace tandem::cli {
namespace {
namespace fs = std::filesystem;

const std::vector<Column> kModelColumns = {{"NAME", "name"},
                                           {"TEAM", "owner_team"},
                                           {"LATEST", "latest_version"},
                                           {"ALIASES", "aliases"},
                                           {"DESCRIPTION", "description"}};
const std::vector<Column> kVersionColumns = {{"NAME", "name"},     {"VERSION", "version"},
                                             {"STATUS", "status"}, {"ALIASES", "aliases"},
                                             {"SOURCE", "source"}, {"JOB", "lineage.job_id"}};

std::string Enc(const std::string& s) { return PercentEncode(s, "-._~"); }

Status Register(Context& ctx, Format format, const std::string& name, const std::string& path,
                const std::string& alias, const std::string& description,
                const std::vector<std::string>& tags, const std::string& team) {
  if (!fs::exists(path)) return NotFoundError("no such file or directory: " + path);
  std::string upload = path;
  std::string filename = fs::path(path).filename().string();
  fs::path tmp;
  if (fs::is_directory(path)) {
    tmp = fs::temp_directory_path() / ("tandem-register-" + NewUlid(Clock::Real()) + ".tar.gz");
    RETURN_IF_ERROR(store::PackDirectory(path, tmp.string()));
    upload = tmp.string();
    filename = "model.tar.gz";
  }
  ApiClient client = ctx.Client();
  std::string key = "models/" + name + "/uploads/" + NewUlid(Clock::Real()) + "/" + filename;
  auto uploaded = client.Upload("/api/v1/artifacts/" + PercentEncode(key), upload);
  if (!tmp.empty()) fs::remove(tmp);
  if (!uploaded.ok()) return uploaded.status();
  Json body = {{"source", (*uploaded)["digest"]}, {"description", description}};
  Json tag_map = {{"artifact_key", key}, {"artifact_name", filename}};
  for (const auto& t : tags) {
    size_t eq = t.find('=');
    if (eq == std::string::npos) return InvalidArgumentError("--tag '" + t + "' must be KEY=VALUE");
    tag_map[t.substr(0, eq)] = t.substr(eq + 1);
  }
  body["tags"] = tag_map;
  if (!team.empty()) body["owner_team"] = team;
  ASSIGN_OR_RETURN(Json version,
                   client.Call("POST", "/api/v1/models/" + Enc(name) + "/versions", body));
  if (!alias.empty()) {
    ASSIGN_OR_RETURN(version,
                     client.Call("PUT", "/api/v1/models/" + Enc(name) + "/aliases/" + Enc(alias),
                                 Json{{"version", version["version"]}}));
  }
  PrintObject(std::cout, format, version);
  return OkStatus();
}

}  // namespace

void AddModelCommands(CLI::App& app, Context& ctx) {
  CLI::App* models = app.add_subcommand("models", "Registered models, versions and aliases");
  models->require_subcommand(1);
  models->footer(
      "Examples:\n  tandem models list\n  tandem models get fraud@champion\n"
      "  tandem models register fraud ./model_dir --alias champion");

  auto list = models->add_subcommand("list", "List registered models");
  auto prefix = std::make_shared<std::string>();
  auto team = std::make_shared<std::string>();
  auto query = std::make_shared<std::string>();
  auto tagf = std::make_shared<std::string>();
  auto lflags = std::make_shared<ListFlags>();
  list->add_option("--prefix", *prefix, "Only names starting with this");
  list->add_option("--query", *query, "Only names containing this (case-insensitive)");
  list->add_option("--team", *team, "Only models owned by this team");
  list->add_option("--tag", *tagf, "Only models with this tag (KEY=VALUE)");
  AddListFlags(list, *lflags, 0);
  list->footer(
      "Examples:\n  tandem models list\n  tandem models list --team fraud -o json\n"
      "  tandem models list --tag stage=prod --limit 10");
  list->callback([&ctx, prefix, team, query, tagf, lflags] {
    Run(ctx, [&](Format f) -> Status {
      ApiClient client = ctx.Client();
      ASSIGN_OR_RETURN(Json doc,
                       FetchList(client,
                                 "/api/v1/models?prefix=" + Enc(*prefix) + "&team=" + Enc(*team) +
                                     "&q=" + Enc(*query) + "&tag=" + Enc(*tagf),
                                 "models", *lflags));
      PrintList(std::cout, f, doc, doc["models"], kModelColumns);
      if (f == Format::kTable) HintMore(doc);
      return OkStatus();
    });
  });

  auto get =
      models->add_subcommand("get", "Show a model, or a version by NAME@ALIAS or NAME/VERSION");
  auto ref = std::make_shared<std::string>();
  get->add_option("REF", *ref, "NAME, NAME@ALIAS or NAME/VERSION")->required();
  get->footer(
      "Examples:\n  tandem models get fraud\n  tandem models get fraud@champion\n"
      "  tandem models get fraud/3 -o yaml");
  get->callback([&ctx, ref] {
    Run(ctx, [&](Format f) -> Status {
      ApiClient client = ctx.Client();
      bool is_version = ref->find('@') != std::string::npos || ref->find('/') != std::string::npos;
      std::string path = is_version ? "/api/v1/resolve/" + PercentEncode(*ref, "-._~/@")
                                    : "/api/v1/models/" + Enc(*ref);
      ASSIGN_OR_RETURN(Json out, client.Call("GET", path));
      PrintObject(std::cout, f, out);
      return OkStatus();
    });
  });

  auto versions = models->add_subcommand("versions", "List the versions of a model, newest first");
  auto vname = std::make_shared<std::string>();
  auto vstatus = std::make_shared<std::string>();
  auto vflags = std::make_shared<ListFlags>();
  versions->add_option("NAME", *vname, "Model name")->required();
  versions->add_option("--status", *vstatus,
                       "Only versions with this status (READY, PENDING_REGISTRATION, "
                       "FAILED_REGISTRATION)");
  AddListFlags(versions, *vflags, 0);
  versions->footer(
      "Examples:\n  tandem models versions fraud\n"
      "  tandem models versions fraud --status READY --limit 5 -o json");
  versions->callback([&ctx, vname, vstatus, vflags] {
    Run(ctx, [&](Format f) -> Status {
      ApiClient client = ctx.Client();
      ASSIGN_OR_RETURN(
          Json doc,
          FetchList(client, "/api/v1/models/" + Enc(*vname) + "/versions?status=" + Enc(*vstatus),
                    "versions", *vflags));
      PrintList(std::cout, f, doc, doc["versions"], kVersionColumns);
      if (f == Format::kTable) HintMore(doc);
      return OkStatus();
    });
  });

  auto alias = models->add_subcommand("alias", "Point NAME@ALIAS at VERSION (or --delete it)");
  auto aname = std::make_shared<std::string>();
  auto aalias = std::make_shared<std::string>();
  auto aversion = std::make_shared<std::string>();
  auto adelete = std::make_shared<bool>(false);
  alias->add_option("NAME", *aname, "Model name")->required();
  alias->add_option("ALIAS", *aalias, "Alias, e.g. champion")->required();
  alias->add_option("VERSION", *aversion, "Version number");
  alias->add_flag("--delete", *adelete, "Delete the alias instead");
  alias->footer(
      "Examples:\n  tandem models alias fraud champion 3\n"
      "  tandem models alias fraud challenger --delete");
  alias->callback([&ctx, aname, aalias, aversion, adelete] {
    if (!*adelete && aversion->empty()) return ctx.Usage("VERSION is required unless --delete");
    Run(ctx, [&](Format f) -> Status {
      ApiClient client = ctx.Client();
      std::string path = "/api/v1/models/" + Enc(*aname) + "/aliases/" + Enc(*aalias);
      ASSIGN_OR_RETURN(Json out, *adelete ? client.Call("DELETE", path)
                                          : client.Call("PUT", path, Json{{"version", *aversion}}));
      PrintObject(std::cout, f, out);
      return OkStatus();
    });
  });

  auto reg = models->add_subcommand(
      "register", "Upload a model file or directory (trained elsewhere) as a new version");
  auto rname = std::make_shared<std::string>();
  auto rpath = std::make_shared<std::string>();
  auto ralias = std::make_shared<std::string>();
  auto rdesc = std::make_shared<std::string>();
  auto rteam = std::make_shared<std::string>();
  auto rtags = std::make_shared<std::vector<std::string>>();
  reg->add_option("NAME", *rname, "Model name (created if missing)")->required();
  reg->add_option("PATH", *rpath, "Model file, or directory (packed as model.tar.gz)")->required();
  reg->add_option("--alias", *ralias, "Point this alias at the new version");
  reg->add_option("--description", *rdesc, "Version description");
  reg->add_option("--team", *rteam, "Owner team (when the model is created)");
  reg->add_option("--tag", *rtags, "KEY=VALUE tag on the version (repeatable)");
  reg->footer(
      "Examples:\n  tandem models register fraud ./xgb.json\n"
      "  tandem models register fraud ./model_dir --alias champion --tag data=2026-11");
  reg->callback([&ctx, rname, rpath, ralias, rdesc, rtags, rteam] {
    Run(ctx, [&](Format f) {
      return Register(ctx, f, *rname, *rpath, *ralias, *rdesc, *rtags, *rteam);
    });
  });

  auto tag = models->add_subcommand(
      "tag", "Set (KEY=VALUE) or delete (KEY) a tag on NAME or NAME/VERSION");
  auto tref = std::make_shared<std::string>();
  auto tkv = std::make_shared<std::string>();
  auto tdelete = std::make_shared<bool>(false);
  tag->add_option("REF", *tref, "NAME or NAME/VERSION")->required();
  tag->add_option("TAG", *tkv, "KEY=VALUE, or KEY with --delete")->required();
  tag->add_flag("--delete", *tdelete, "Delete the tag");
  tag->footer(
      "Examples:\n  tandem models tag fraud/3 validated=true\n  tandem models tag fraud owner "
      "--delete");
  tag->callback([&ctx, tref, tkv, tdelete] {
    Run(ctx, [&](Format f) -> Status {
      size_t slash = tref->find('/');
      std::string base = "/api/v1/models/" + Enc(tref->substr(0, slash));
      if (slash != std::string::npos) base += "/versions/" + Enc(tref->substr(slash + 1));
      size_t eq = tkv->find('=');
      if (!*tdelete && eq == std::string::npos) {
        return InvalidArgumentError("tag '" + *tkv + "' must be KEY=VALUE");
      }
      std::string key = tkv->substr(0, eq);
      ApiClient client = ctx.Client();
      ASSIGN_OR_RETURN(Json out, *tdelete ? client.Call("DELETE", base + "/tags/" + Enc(key))
                                          : client.Call("PUT", base + "/tags/" + Enc(key),
                                                        Json{{"value", tkv->substr(eq + 1)}}));
      PrintObject(std::cout, f, out);
      return OkStatus();
    });
  });
}

}  // namespace tandem::cli
