// /api/v1/events (publish, tail, stream), /api/v1/rules, /api/v1/queues and
// /api/v1/audit (the audit events, for admins).
#include <memory>

#include "api/api_routes.h"
#include "api/control_plane.h"
#include "api/rest.h"
#include "glue/bus/event_types.h"

namespace tandem::api {
namespace {

using bus::EventBus;

Json SequencedJson(const bus::SequencedEvent& e) {
  Json j = e.event.ToJson();
  j["seq"] = e.seq;
  return j;
}

Json QueueJson(const bus::QueueInfo& q) {
  Json j = {{"name", q.name},
            {"visibility_timeout_ms", q.options.visibility_timeout_ms},
            {"retention_ms", q.options.retention_ms},
            {"delay_ms", q.options.delay_ms},
            {"max_receive_count", q.options.max_receive_count},
            {"created_ms", q.created_ms},
            {"visible", q.visible},
            {"in_flight", q.in_flight},
            {"delayed", q.delayed}};
  if (!q.options.dead_letter_queue.empty()) j["dead_letter_queue"] = q.options.dead_letter_queue;
  return j;
}

Json MessageJson(const bus::Message& m) {
  return {{"message_id", m.message_id},
          {"receipt_handle", m.receipt_handle},
          {"receive_count", m.receive_count},
          {"first_received_ms", m.first_received_ms},
          {"sent_ms", m.sent_ms},
          {"event", m.event.ToJson()}};
}

StatusOr<bus::QueueOptions> ParseQueueOptions(const Json& body) {
  bus::QueueOptions o;
  for (const auto& [k, v] : body.items()) {
    if (k != "visibility_timeout_ms" && k != "retention_ms" && k != "delay_ms" &&
        k != "max_receive_count" && k != "dead_letter_queue") {
      return InvalidArgumentError("unknown field '" + k + "'");
    }
  }
  ASSIGN_OR_RETURN(o.visibility_timeout_ms,
                   GetIntOr(body, "visibility_timeout_ms", o.visibility_timeout_ms));
  ASSIGN_OR_RETURN(o.retention_ms, GetIntOr(body, "retention_ms", o.retention_ms));
  ASSIGN_OR_RETURN(o.delay_ms, GetIntOr(body, "delay_ms", o.delay_ms));
  ASSIGN_OR_RETURN(int64_t mrc, GetIntOr(body, "max_receive_count", 0));
  o.max_receive_count = static_cast<int>(mrc);
  ASSIGN_OR_RETURN(o.dead_letter_queue, GetStringOr(body, "dead_letter_queue", ""));
  return o;
}

StatusOr<std::optional<bus::Pattern>> PatternParam(const http::Request& req) {
  std::string text = req.Query("pattern");
  if (text.empty()) return std::optional<bus::Pattern>();
  ASSIGN_OR_RETURN(bus::Pattern p, bus::Pattern::ParseText(text));
  return std::optional<bus::Pattern>(std::move(p));
}

// The sequence number of the newest event (so a stream can start "now").
StatusOr<int64_t> LatestSeq(EventBus* b) {
  int64_t after = 0;
  while (true) {
    bus::TailOptions t;
    t.after_seq = after;
    t.limit = 1000;
    ASSIGN_OR_RETURN(bus::TailResult r, b->Tail(t));
    if (r.last_seq <= after) return after;
    after = r.last_seq;
  }
}

// Audit events are for admins: other callers do not see them in event lists.
bool Hidden(const http::Request& req, const bus::SequencedEvent& e) {
  return e.event.source == bus::events::kAuditSource && req.Header(kAdminHeader) != "true";
}

// GET /api/v1/audit: one page of audit events, oldest first:
// ?after=SEQ&limit=N&principal=NAME&since=RFC3339.
StatusOr<Json> AuditPage(EventBus* b, const http::Request& req) {
  Json pattern = {{"source", {std::string(bus::events::kAuditSource)}}};
  std::string principal = req.Query("principal");
  if (!principal.empty()) pattern["detail"] = {{"principal", {principal}}};
  std::string since = req.Query("since");
  bus::TailOptions t;
  ASSIGN_OR_RETURN(t.after_seq, QueryInt(req, "after", 0));
  ASSIGN_OR_RETURN(int64_t limit, QueryInt(req, "limit", 100));
  if (limit < 1 || limit > 1000) return InvalidArgumentError("limit must be between 1 and 1000");
  t.limit = static_cast<int>(limit);
  ASSIGN_OR_RETURN(t.pattern, bus::Pattern::Parse(pattern));
  ASSIGN_OR_RETURN(bus::TailResult r, b->Tail(t));
  Json events = Json::array();
  for (const auto& e : r.events) {
    // RFC 3339 UTC times of one format compare as strings.
    if (!since.empty() && e.event.time < since) continue;
    events.push_back(SequencedJson(e));
  }
  return Json{{"events", events}, {"last_seq", r.last_seq}};
}

}  // namespace

void RegisterEventRoutes(ApiRoutes& routes, const Services& s) {
  EventBus* b = s.bus;

  routes.Route("POST", "/api/v1/events", Access::Admin(),
               JsonHandler(
                   [b](http::Request& req) -> StatusOr<Json> {
                     ASSIGN_OR_RETURN(Json body, JsonBody(req));
                     ASSIGN_OR_RETURN(bus::Event e, bus::Event::FromJson(body));
                     ASSIGN_OR_RETURN(bus::SequencedEvent published, b->Publish(e));
                     return SequencedJson(published);
                   },
                   201));

  // One page of history: ?after=SEQ&limit=N&wait_ms=MS&pattern=JSON.
  routes.Route("GET", "/api/v1/events", Access::Authenticated(),
               JsonHandler([b](http::Request& req) -> StatusOr<Json> {
                 bus::TailOptions t;
                 ASSIGN_OR_RETURN(t.after_seq, QueryInt(req, "after", 0));
                 ASSIGN_OR_RETURN(int64_t limit, QueryInt(req, "limit", 100));
                 t.limit = static_cast<int>(limit);
                 ASSIGN_OR_RETURN(t.wait_ms, QueryInt(req, "wait_ms", 0));
                 ASSIGN_OR_RETURN(t.pattern, PatternParam(req));
                 ASSIGN_OR_RETURN(bus::TailResult r, b->Tail(t));
                 Json events = Json::array();
                 for (const auto& e : r.events) {
                   if (!Hidden(req, e)) events.push_back(SequencedJson(e));
                 }
                 return Json{{"events", events}, {"last_seq", r.last_seq}};
               }));

  routes.Route("GET", "/api/v1/audit", Access::Admin(),
               JsonHandler([b](http::Request& req) { return AuditPage(b, req); }));

  // A live stream of newline-delimited JSON events: ?after=SEQ (default: from
  // now) &pattern=JSON. Ends when the client disconnects.
  routes.Route("GET", "/api/v1/events/stream", Access::Authenticated(),
               [b](http::Request& req, http::Response& res) {
                 auto pattern = PatternParam(req);
                 if (!pattern.ok()) return WriteError(res, pattern.status());
                 auto after = QueryInt(req, "after", -1);
                 if (!after.ok()) return WriteError(res, after.status());
                 int64_t start = *after;
                 if (start < 0) {
                   auto latest = LatestSeq(b);
                   if (!latest.ok()) return WriteError(res, latest.status());
                   start = *latest;
                 }
                 auto cursor = std::make_shared<int64_t>(start);
                 auto filter = std::make_shared<std::optional<bus::Pattern>>(std::move(*pattern));
                 res.status = 200;
                 res.headers["content-type"] = "application/x-ndjson";
                 bool admin = req.Header(kAdminHeader) == "true";
                 res.stream = [b, cursor, filter, admin](std::string& chunk,
                                                         const http::StreamContext& ctx) {
                   chunk.clear();
                   if (ctx.cancelled && ctx.cancelled()) return false;
                   bus::TailOptions t;
                   t.after_seq = *cursor;
                   t.limit = 100;
                   t.wait_ms = 1000;
                   t.pattern = *filter;
                   auto r = b->Tail(t);
                   if (!r.ok()) return false;
                   *cursor = std::max(*cursor, r->last_seq);
                   for (const auto& e : r->events) {
                     if (admin || e.event.source != bus::events::kAuditSource) {
                       chunk += SequencedJson(e).dump() + "\n";
                     }
                   }
                   return true;
                 };
               });

  routes.Route(
      "GET", "/api/v1/rules", Access::Authenticated(),
      JsonHandler([b](http::Request&) -> StatusOr<Json> {
        ASSIGN_OR_RETURN(auto rules, b->ListRules());
        Json out = Json::array();
        for (const auto& r : rules) {
          out.push_back({{"name", r.name}, {"pattern", r.pattern}, {"target", r.target_queue}});
        }
        return Json{{"rules", out}};
      }));

  routes.Route("PUT", "/api/v1/rules/{name}", Access::Admin(),
               JsonHandler([b](http::Request& req) -> StatusOr<Json> {
                 ASSIGN_OR_RETURN(Json body, JsonBody(req));
                 if (!body.contains("pattern"))
                   return InvalidArgumentError("missing field 'pattern'");
                 ASSIGN_OR_RETURN(std::string target, GetString(body, "target"));
                 RETURN_IF_ERROR(b->PutRule(req.path_params["name"], body["pattern"], target));
                 return Json{{"name", req.path_params["name"]},
                             {"pattern", body["pattern"]},
                             {"target", target}};
               }));

  routes.Route("DELETE", "/api/v1/rules/{name}", Access::Admin(),
               JsonHandler([b](http::Request& req) -> StatusOr<Json> {
                 RETURN_IF_ERROR(b->DeleteRule(req.path_params["name"]));
                 return Json{{"deleted", req.path_params["name"]}};
               }));

  routes.Route("GET", "/api/v1/queues", Access::Authenticated(),
               JsonHandler([b](http::Request&) -> StatusOr<Json> {
                 ASSIGN_OR_RETURN(auto queues, b->ListQueues());
                 Json out = Json::array();
                 for (const auto& q : queues) out.push_back(QueueJson(q));
                 return Json{{"queues", out}};
               }));

  routes.Route("PUT", "/api/v1/queues/{name}", Access::Admin(),
               JsonHandler([b](http::Request& req) -> StatusOr<Json> {
                 ASSIGN_OR_RETURN(Json body, JsonBody(req));
                 ASSIGN_OR_RETURN(bus::QueueOptions options, ParseQueueOptions(body));
                 RETURN_IF_ERROR(b->CreateQueue(req.path_params["name"], options));
                 ASSIGN_OR_RETURN(auto q, b->GetQueue(req.path_params["name"]));
                 return QueueJson(q);
               }));

  routes.Route("GET", "/api/v1/queues/{name}", Access::Authenticated(),
               JsonHandler([b](http::Request& req) -> StatusOr<Json> {
                 ASSIGN_OR_RETURN(auto q, b->GetQueue(req.path_params["name"]));
                 return QueueJson(q);
               }));

  routes.Route("DELETE", "/api/v1/queues/{name}", Access::Admin(),
               JsonHandler([b](http::Request& req) -> StatusOr<Json> {
                 RETURN_IF_ERROR(b->DeleteQueue(req.path_params["name"]));
                 return Json{{"deleted", req.path_params["name"]}};
               }));

  routes.Route("POST", "/api/v1/queues/{name}/receive", Access::Admin(),
               JsonHandler([b](http::Request& req) -> StatusOr<Json> {
                 ASSIGN_OR_RETURN(Json body, JsonBody(req));
                 bus::ReceiveOptions o;
                 ASSIGN_OR_RETURN(int64_t max, GetIntOr(body, "max_messages", 1));
                 o.max_messages = static_cast<int>(max);
                 ASSIGN_OR_RETURN(o.wait_ms, GetIntOr(body, "wait_ms", 0));
                 if (body.contains("visibility_timeout_ms")) {
                   ASSIGN_OR_RETURN(int64_t vt, GetIntOr(body, "visibility_timeout_ms", 0));
                   o.visibility_timeout_ms = vt;
                 }
                 ASSIGN_OR_RETURN(auto msgs, b->Receive(req.path_params["name"], o));
                 Json out = Json::array();
                 for (const auto& m : msgs) out.push_back(MessageJson(m));
                 return Json{{"messages", out}};
               }));

  routes.Route("POST", "/api/v1/queues/{name}/ack", Access::Admin(),
               JsonHandler([b](http::Request& req) -> StatusOr<Json> {
                 ASSIGN_OR_RETURN(Json body, JsonBody(req));
                 ASSIGN_OR_RETURN(std::string receipt, GetString(body, "receipt_handle"));
                 RETURN_IF_ERROR(b->DeleteMessage(req.path_params["name"], receipt));
                 return Json{{"acknowledged", true}};
               }));

  routes.Route("POST", "/api/v1/queues/{name}/visibility", Access::Admin(),
               JsonHandler([b](http::Request& req) -> StatusOr<Json> {
                 ASSIGN_OR_RETURN(Json body, JsonBody(req));
                 ASSIGN_OR_RETURN(std::string receipt, GetString(body, "receipt_handle"));
                 ASSIGN_OR_RETURN(int64_t timeout, GetIntOr(body, "timeout_ms", 0));
                 RETURN_IF_ERROR(b->ChangeVisibility(req.path_params["name"], receipt, timeout));
                 return Json{{"visibility_timeout_ms", timeout}};
               }));
}

}  // namespace tandem::api
