// The version of tandem, written in one place: `project(tandem ... VERSION x.y.z)`
// in the top-level CMakeLists.txt. version.cc is generated from version.cc.in
// by configure_file, so `tandem --version`, GET /api/v1/health, the model
// server's GET /v2 and the OpenAPI document's info.version (checked by
// src/api/openapi_test.cc) all report the same string.
#pragma once

#include <string_view>

namespace tandem {

// "MAJOR.MINOR.PATCH", e.g. "0.1.0". Thread-safe (a constant).
std::string_view Version();

}  // namespace tandem
