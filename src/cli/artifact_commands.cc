// `tandem artifacts ...`: put, get, ls, rm on the object store.
#include <fstream>
#include <memory>

#include "cli/context.h"
#include "cli/list_flags.h"
#include "common/uri.h"

namespace tandem::cli {
namespace {

const std::vector<Column> kColumns = {{"KEY", "key"}, {"SIZE", "size"}, {"DIGEST", "digest"}};

std::string KeyPath(const std::string& key) { return "/api/v1/artifacts/" + PercentEncode(key); }

}  // namespace

void AddArtifactCommands(CLI::App& app, Context& ctx) {
  CLI::App* art = app.add_subcommand("artifacts", "Objects in the content-addressed store");
  art->require_subcommand(1);
  art->footer(
      "Examples:\n  tandem artifacts put data/train.csv ./train.csv\n"
      "  tandem artifacts ls data/\n  tandem artifacts get data/train.csv ./copy.csv");

  auto put = art->add_subcommand("put", "Upload FILE under KEY");
  auto pkey = std::make_shared<std::string>();
  auto pfile = std::make_shared<std::string>();
  put->add_option("KEY", *pkey, "Object key, e.g. datasets/train.csv")->required();
  put->add_option("FILE", *pfile, "Local file")->required()->check(CLI::ExistingFile);
  put->footer("Example:\n  tandem artifacts put datasets/train.csv ./train.csv");
  put->callback([&ctx, pkey, pfile] {
    Run(ctx, [&](Format f) -> Status {
      ApiClient client = ctx.Client();
      ASSIGN_OR_RETURN(Json out, client.Upload(KeyPath(*pkey), *pfile));
      PrintObject(std::cout, f, out);
      return OkStatus();
    });
  });

  auto get = art->add_subcommand("get", "Download KEY to FILE (or stdout with -)");
  auto gkey = std::make_shared<std::string>();
  auto gfile = std::make_shared<std::string>("-");
  get->add_option("KEY", *gkey, "Object key")->required();
  get->add_option("FILE", *gfile, "Destination file, - for stdout");
  get->footer("Example:\n  tandem artifacts get datasets/train.csv ./train.csv");
  get->callback([&ctx, gkey, gfile] {
    Run(ctx, [&](Format) -> Status {
      ApiClient client = ctx.Client();
      std::string tmp = *gfile + ".partial";
      std::ofstream file;
      if (*gfile != "-") {
        file.open(tmp, std::ios::binary | std::ios::trunc);
        if (!file) return PermissionDeniedError("cannot write " + tmp);
      }
      std::ostream& out = *gfile == "-" ? std::cout : file;
      Status s = client.Download(KeyPath(*gkey), [&out](std::string_view chunk) {
        out.write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
        return static_cast<bool>(out);
      });
      if (*gfile != "-") {
        file.close();
        if (!s.ok() || !file) {
          std::remove(tmp.c_str());
          return s.ok() ? InternalError("write to " + *gfile + " failed") : s;
        }
        if (std::rename(tmp.c_str(), gfile->c_str()) != 0) {
          return InternalError("cannot rename " + tmp + " to " + *gfile);
        }
      }
      return s;
    });
  });

  auto ls = art->add_subcommand("ls", "List objects under PREFIX");
  auto prefix = std::make_shared<std::string>();
  auto lflags = std::make_shared<ListFlags>();
  ls->add_option("PREFIX", *prefix, "Key prefix (default: everything)");
  AddListFlags(ls, *lflags, 0);
  ls->footer(
      "Examples:\n  tandem artifacts ls models/fraud/\n"
      "  tandem artifacts ls --limit 100 -o json");
  ls->callback([&ctx, prefix, lflags] {
    Run(ctx, [&](Format f) -> Status {
      ApiClient client = ctx.Client();
      ASSIGN_OR_RETURN(
          Json doc, FetchList(client, "/api/v1/artifacts?prefix=" + PercentEncode(*prefix, "-._~"),
                              "artifacts", *lflags));
      const Json& all = doc["artifacts"];
      PrintList(std::cout, f, doc, all, kColumns);
      if (f == Format::kTable) HintMore(doc);
      return OkStatus();
    });
  });

  auto rm =
      art->add_subcommand("rm", "Delete the name KEY (the blob stays until garbage-collected)");
  auto rkey = std::make_shared<std::string>();
  rm->add_option("KEY", *rkey, "Object key")->required();
  rm->footer("Example:\n  tandem artifacts rm datasets/old.csv");
  rm->callback([&ctx, rkey] {
    Run(ctx, [&](Format f) -> Status {
      ApiClient client = ctx.Client();
      ASSIGN_OR_RETURN(Json out, client.Call("DELETE", KeyPath(*rkey)));
      PrintObject(std::cout, f, out);
      return OkStatus();
    });
  });
}

}  // namespace tandem::cli
