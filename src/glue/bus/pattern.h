// EventBridge event patterns: which events a rule routes. A pattern is a JSON
// object with the event's shape whose leaves are arrays of matchers:
//
//   {"source": ["tandem.registry"],
//    "detail-type": [{"prefix": "Model Version"}],
//    "detail": {"status": [{"anything-but": ["FAILED", "DELETED"]}],
//               "version": [{"numeric": [">", 0, "<=", 5]}]}}
//
// Semantics (as EventBridge): fields are ANDed, the matchers of one leaf array
// are ORed; exact values (string, number, bool, null) match case-sensitively;
// when the event's field is an array it matches if any element matches; a
// nested pattern object recurses into the event object. Operators, each a
// one-key object inside a leaf array:
//   {"prefix": "x"} / {"prefix": {"equals-ignore-case": "x"}}
//   {"suffix": "x"} / {"suffix": {"equals-ignore-case": "x"}}
//   {"equals-ignore-case": "x"}            (ASCII case folding)
//   {"anything-but": v | [v, ...] | {"prefix"|"suffix"|"equals-ignore-case"|
//                                     "wildcard": ...}}
//   {"numeric": ["=", 5]} / {"numeric": [">", 0, "<=", 5]}  (=, <, <=, >, >=)
//   {"exists": true|false}                  (false matches an absent field)
//   {"wildcard": "a*b"}                     ('*' any run; '\*' a literal star)
//   {"cidr": "10.0.0.0/24"}                 (IPv4 or IPv6)
// and "$or": [pattern, pattern, ...] at any object level.
// Only {"exists": false} matches an absent field; every value matcher
// (including anything-but) needs the field to be present.
#pragma once

#include <string_view>

#include "common/json.h"
#include "common/status.h"

namespace tandem::bus {

class Pattern {
 public:
  // Validates `pattern`. Errors are InvalidArgument naming the path of the
  // offending element (e.g. "detail.version[0].numeric").
  static StatusOr<Pattern> Parse(const Json& pattern);
  // Parses JSON text, then validates it.
  static StatusOr<Pattern> ParseText(std::string_view text);

  // True if `event` (an event envelope as from Event::ToJson, or any JSON
  // object) matches. Thread-safe (const).
  bool Matches(const Json& event) const;

  const Json& json() const { return json_; }

 private:
  explicit Pattern(Json json) : json_(std::move(json)) {}
  Json json_;  // validated
};

}  // namespace tandem::bus
