#include "glue/images/reference.h"

#include <string>

namespace tandem::images {
namespace {

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool IsTagChar(char c) {
  return IsLowerAlnum(c) || (c >= 'A' && c <= 'Z') || c == '_' || c == '.' || c == '-';
}
bool IsHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

// One path component: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*. Returns "" if
// valid, else the reason.
std::string ComponentError(std::string_view c) {
  if (c.empty()) return "has an empty path component";
  size_t i = 0;
  while (i < c.size()) {
    if (!IsLowerAlnum(c[i])) {
      if (c[i] >= 'A' && c[i] <= 'Z') return "must be lower case";
      if (c[i] != '.' && c[i] != '_' && c[i] != '-') {
        return "has a character other than [a-z0-9._-] in a path component";
      }
      return "has a path component that does not start with [a-z0-9]";
    }
    while (i < c.size() && IsLowerAlnum(c[i])) ++i;
    if (i == c.size()) break;
    // A separator: '.', '_', '__' or one or more '-'.
    size_t start = i;
    if (c[i] == '.') {
      ++i;
    } else if (c[i] == '_') {
      ++i;
      if (i < c.size() && c[i] == '_') ++i;
    } else if (c[i] == '-') {
      while (i < c.size() && c[i] == '-') ++i;
    } else if (c[i] >= 'A' && c[i] <= 'Z') {
      return "must be lower case";
    } else {
      return "has a character other than [a-z0-9._-] in a path component";
    }
    if (i == c.size() || !IsLowerAlnum(c[i])) {
      return "has a separator ('" + std::string(c.substr(start, i - start)) +
             "') not followed by [a-z0-9] in a path component";
    }
  }
  return "";
}

bool LooksLikeHost(std::string_view first) {
  return first.find('.') != std::string_view::npos || first.find(':') != std::string_view::npos ||
         first == "localhost";
}

// host[:port]: letters, digits, '.', '-' (and the port digits).
bool ValidHost(std::string_view host) {
  if (host.empty()) return false;
  size_t colon = host.rfind(':');
  std::string_view name = colon == std::string_view::npos ? host : host.substr(0, colon);
  if (name.empty()) return false;
  for (char c : name) {
    if (!(IsLowerAlnum(c) || (c >= 'A' && c <= 'Z') || c == '.' || c == '-')) return false;
  }
  if (colon != std::string_view::npos) {
    std::string_view port = host.substr(colon + 1);
    if (port.empty() || port.size() > 5) return false;
    for (char c : port) {
      if (c < '0' || c > '9') return false;
    }
  }
  return true;
}

}  // namespace

Status ValidateRepository(std::string_view name) {
  auto bad = [&](std::string_view why) {
    return InvalidArgumentError("repository name '" + std::string(name) + "' " + std::string(why));
  };
  if (name.empty()) return bad("is empty");
  if (name.size() > kMaxRepositoryBytes) {
    return bad("is longer than " + std::to_string(kMaxRepositoryBytes) + " bytes");
  }
  size_t start = 0;
  while (true) {
    size_t slash = name.find('/', start);
    std::string_view comp = name.substr(start, slash == std::string_view::npos ? name.npos
                                                                               : slash - start);
    std::string err = ComponentError(comp);
    if (!err.empty()) return bad(err);
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return OkStatus();
}

Status ValidateTag(std::string_view tag) {
  auto bad = [&](std::string_view why) {
    return InvalidArgumentError("tag '" + std::string(tag) + "' " + std::string(why));
  };
  if (tag.empty()) return bad("is empty");
  if (tag.size() > kMaxTagBytes) {
    return bad("is longer than " + std::to_string(kMaxTagBytes) + " characters");
  }
  if (tag[0] == '.' || tag[0] == '-') return bad("must start with [A-Za-z0-9_]");
  for (char c : tag) {
    if (!IsTagChar(c)) return bad("has a character other than [A-Za-z0-9_.-]");
  }
  return OkStatus();
}

Status ValidateImageDigest(std::string_view digest) {
  size_t colon = digest.find(':');
  if (colon == std::string_view::npos || colon == 0) {
    return InvalidArgumentError("digest '" + std::string(digest) +
                                "' is not <algorithm>:<hex> (e.g. sha256:...)");
  }
  std::string_view alg = digest.substr(0, colon);
  std::string_view hex = digest.substr(colon + 1);
  if (alg != "sha256") {
    return InvalidArgumentError("digest '" + std::string(digest) + "' uses algorithm '" +
                                std::string(alg) + "'; only sha256 is supported");
  }
  if (hex.size() != 64) {
    return InvalidArgumentError("digest '" + std::string(digest) +
                                "' must have 64 hex digits after 'sha256:'");
  }
  for (char c : hex) {
    if (!IsHex(c)) {
      return InvalidArgumentError("digest '" + std::string(digest) +
                                  "' must be lower-case hex after 'sha256:'");
    }
  }
  return OkStatus();
}

bool LooksLikeDigest(std::string_view s) { return s.find(':') != std::string_view::npos; }

Status ValidateTagOrDigest(std::string_view reference) {
  return LooksLikeDigest(reference) ? ValidateImageDigest(reference) : ValidateTag(reference);
}

std::string Reference::Name() const {
  std::string out = repository;
  if (!tag.empty()) out += ":" + tag;
  if (!digest.empty()) out += "@" + digest;
  return out;
}

std::string Reference::ToString() const {
  return registry.empty() ? Name() : registry + "/" + Name();
}

StatusOr<Reference> ParseReference(std::string_view text) {
  auto annotate = [&](const Status& s) {
    return Annotate(s, "image reference '" + std::string(text) + "'");
  };
  if (text.empty()) return InvalidArgumentError("image reference is empty");
  if (text.size() > 1024) {
    return InvalidArgumentError("image reference is longer than 1024 bytes");
  }
  Reference ref;
  std::string_view rest = text;
  // Digest: everything after the first '@'.
  if (size_t at = rest.find('@'); at != std::string_view::npos) {
    ref.digest = std::string(rest.substr(at + 1));
    RETURN_IF_ERROR(annotate(ValidateImageDigest(ref.digest)));
    rest = rest.substr(0, at);
  }
  // Registry host: the first component, if it looks like one.
  if (size_t slash = rest.find('/'); slash != std::string_view::npos) {
    std::string_view first = rest.substr(0, slash);
    if (LooksLikeHost(first)) {
      if (!ValidHost(first)) {
        return InvalidArgumentError("image reference '" + std::string(text) +
                                    "': registry host '" + std::string(first) +
                                    "' is not host[:port]");
      }
      ref.registry = std::string(first);
      rest = rest.substr(slash + 1);
    }
  }
  // Tag: after the last ':' (the host's port is gone already).
  if (size_t colon = rest.rfind(':'); colon != std::string_view::npos) {
    ref.tag = std::string(rest.substr(colon + 1));
    RETURN_IF_ERROR(annotate(ValidateTag(ref.tag)));
    rest = rest.substr(0, colon);
  }
  ref.repository = std::string(rest);
  RETURN_IF_ERROR(annotate(ValidateRepository(ref.repository)));
  if (ref.tag.empty() && ref.digest.empty()) ref.tag = std::string(kDefaultTag);
  return ref;
}

}  // namespace tandem::images
