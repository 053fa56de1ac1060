// `tandem events ...`: tail the live event flow, publish, rules and queues.
#include <memory>

#include "cli/context.h"
#include "cli/event_line.h"
#include "cli/list_flags.h"
#include "common/uri.h"
#include "common/yaml.h"

namespace tandem::cli {
namespace {

struct TailFlags {
  std::string pattern;
  bool from_start = false;
  int count = 0;
};

Status Tail(Context& ctx, Format format, const TailFlags& f) {
  if (!f.pattern.empty()) {
    auto p = ParseJson(f.pattern);
    if (!p.ok()) return Annotate(p.status(), "--pattern");
  }
  std::string path = "/api/v1/events/stream?after=" + std::string(f.from_start ? "0" : "-1");
  if (!f.pattern.empty()) path += "&pattern=" + PercentEncode(f.pattern, "-._~");
  ApiClient client = ctx.Client();
  std::string buffer;
  int seen = 0;
  bool done = false;
  Status s = client.Stream(path, [&](std::string_view chunk) {
    buffer.append(chunk);
    size_t nl;
    while (!done && (nl = buffer.find('\n')) != std::string::npos) {
      std::string line = buffer.substr(0, nl);
      buffer.erase(0, nl + 1);
      auto e = ParseJson(line);
      if (!e.ok()) continue;
      if (format == Format::kJson) {
        std::cout << e->dump() << std::endl;  // one JSON document per line
      } else if (format == Format::kYaml) {
        std::cout << "---\n" << ToYaml(*e) << std::flush;
      } else {
        std::cout << EventLine(*e) << std::endl;
      }
      if (f.count > 0 && ++seen >= f.count) done = true;
    }
    return !done;
  });
  if (done) return OkStatus();  // we hung up on purpose
  return s;
}

}  // namespace

void AddEventCommands(CLI::App& app, Context& ctx) {
  CLI::App* events = app.add_subcommand("events", "The platform's event flow, rules and queues");
  events->require_subcommand(1);
  events->footer(
      "Examples:\n  tandem events tail\n"
      "  tandem events tail --pattern '{\"detail-type\":[\"Model Alias Changed\"]}'");

  auto tail = events->add_subcommand("tail", "Follow events as they happen (Ctrl-C to stop)");
  auto tf = std::make_shared<TailFlags>();
  tail->add_option("--pattern", tf->pattern, "EventBridge pattern (JSON) to filter by");
  tail->add_flag("--from-start", tf->from_start, "Replay history first");
  tail->add_option("--count", tf->count, "Exit after this many events (0 = never)");
  tail->footer(
      "Examples:\n  tandem events tail\n  tandem events tail --from-start --count 10\n"
      "  tandem events tail --pattern '{\"source\":[\"tandem.registry\"]}' -o json\n"
      "Output:\n  table (default): one line per event: time (UTC), source, detail-type,\n"
      "  then job/model/version/alias/deployment/state; -o json: one event per line;\n"
      "  -o yaml: a YAML document per event.");
  tail->callback([&ctx, tf] { Run(ctx, [&](Format f) { return Tail(ctx, f, *tf); }); });

  auto publish = events->add_subcommand("publish", "Publish an event (for tests and tools)");
  auto source = std::make_shared<std::string>("tandem.test");
  auto dtype = std::make_shared<std::string>();
  auto detail = std::make_shared<std::string>("{}");
  publish->add_option("--source", *source, "Event source");
  publish->add_option("--detail-type", *dtype, "Event detail-type")->required();
  publish->add_option("--detail", *detail, "Detail object (JSON)");
  publish->footer("Example:\n  tandem events publish --detail-type Ping --detail '{\"n\":1}'");
  publish->callback([&ctx, source, dtype, detail] {
    Run(ctx, [&](Format f) -> Status {
      ASSIGN_OR_RETURN(Json d, ParseJson(*detail));
      ApiClient client = ctx.Client();
      ASSIGN_OR_RETURN(
          Json out, client.Call("POST", "/api/v1/events",
                                Json{{"source", *source}, {"detail-type", *dtype}, {"detail", d}}));
      PrintObject(std::cout, f, out);
      return OkStatus();
    });
  });

  auto rules = events->add_subcommand("rules", "Rules routing events into queues");
  rules->require_subcommand(1);
  rules->footer(
      "Examples:\n  tandem events rules list\n"
      "  tandem events rules put promotions --target deploys "
      "--pattern '{\"detail-type\":[\"Model Alias Changed\"]}'");
  auto rlist = rules->add_subcommand("list", "List rules");
  auto rflags = std::make_shared<ListFlags>();
  AddListFlags(rlist, *rflags, 0, /*paged=*/false);
  rlist->footer("Examples:\n  tandem events rules list\n  tandem events rules list -o yaml");
  rlist->callback([&ctx, rflags] {
    Run(ctx, [&](Format f) -> Status {
      ApiClient client = ctx.Client();
      ASSIGN_OR_RETURN(Json doc, FetchList(client, "/api/v1/rules", "rules", *rflags));
      PrintList(std::cout, f, doc, doc["rules"],
                {{"NAME", "name"}, {"TARGET", "target"}, {"PATTERN", "pattern"}});
      return OkStatus();
    });
  });
  auto put = rules->add_subcommand("put", "Create or replace a rule");
  auto rname = std::make_shared<std::string>();
  auto rpattern = std::make_shared<std::string>();
  auto rtarget = std::make_shared<std::string>();
  put->add_option("NAME", *rname, "Rule name")->required();
  put->add_option("--pattern", *rpattern, "EventBridge pattern (JSON)")->required();
  put->add_option("--target", *rtarget, "Target queue")->required();
  put->footer(
      "Example:\n  tandem events rules put promotions --target deploys "
      "--pattern '{\"detail-type\":[\"Model Alias Changed\"]}'");
  put->callback([&ctx, rname, rpattern, rtarget] {
    Run(ctx, [&](Format f) -> Status {
      ASSIGN_OR_RETURN(Json pattern, ParseJson(*rpattern));
      ApiClient client = ctx.Client();
      ASSIGN_OR_RETURN(Json out,
                       client.Call("PUT", "/api/v1/rules/" + PercentEncode(*rname, "-._~"),
                                   Json{{"pattern", pattern}, {"target", *rtarget}}));
      PrintObject(std::cout, f, out);
      return OkStatus();
    });
  });

  auto queues = events->add_subcommand("queues", "Durable SQS-style queues");
  queues->require_subcommand(1);
  queues->footer(
      "Examples:\n  tandem events queues list\n"
      "  tandem events queues create deploys --max-receive-count 5");
  auto qlist = queues->add_subcommand("list", "List queues with their depths");
  auto qflags = std::make_shared<ListFlags>();
  AddListFlags(qlist, *qflags, 0, /*paged=*/false);
  qlist->footer("Examples:\n  tandem events queues list\n  tandem events queues list -o json");
  qlist->callback([&ctx, qflags] {
    Run(ctx, [&](Format f) -> Status {
      ApiClient client = ctx.Client();
      ASSIGN_OR_RETURN(Json doc, FetchList(client, "/api/v1/queues", "queues", *qflags));
      PrintList(std::cout, f, doc, doc["queues"],
                {{"NAME", "name"},
                 {"VISIBLE", "visible"},
                 {"IN-FLIGHT", "in_flight"},
                 {"DLQ", "dead_letter_queue"},
                 {"MAX-RECEIVES", "max_receive_count"}});
      return OkStatus();
    });
  });
  auto create = queues->add_subcommand("create", "Create a queue");
  auto qname = std::make_shared<std::string>();
  auto qvis = std::make_shared<int64_t>(30000);
  auto qmax = std::make_shared<int>(0);
  auto qdlq = std::make_shared<std::string>();
  create->add_option("NAME", *qname, "Queue name")->required();
  create->add_option("--visibility-timeout-ms", *qvis, "Visibility timeout");
  create->add_option("--max-receive-count", *qmax, "Receives before dead-lettering (0 = never)");
  create->add_option("--dead-letter-queue", *qdlq, "Dead-letter queue name");
  create->footer(
      "Example:\n  tandem events queues create deploys --max-receive-count 5 "
      "--dead-letter-queue deploys-dlq");
  create->callback([&ctx, qname, qvis, qmax, qdlq] {
    Run(ctx, [&](Format f) -> Status {
      Json body = {{"visibility_timeout_ms", *qvis}, {"max_receive_count", *qmax}};
      if (!qdlq->empty()) body["dead_letter_queue"] = *qdlq;
      ApiClient client = ctx.Client();
      ASSIGN_OR_RETURN(Json out,
                       client.Call("PUT", "/api/v1/queues/" + PercentEncode(*qname, "-._~"), body));
      PrintObject(std::cout, f, out);
      return OkStatus();
    });
  });
}

}  // namespace tandem::cli
