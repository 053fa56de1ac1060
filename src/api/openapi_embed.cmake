# Build-time helper: embeds docs/openapi.yaml into a C++ source file as a raw
# string literal. Usage: cmake -DINPUT=... -DOUTPUT=... -P openapi_embed.cmake
file(READ "${INPUT}" TANDEM_OPENAPI_TEXT)
string(FIND "${TANDEM_OPENAPI_TEXT}" ")tandem_openapi\"" TANDEM_OPENAPI_CLASH)
if(NOT TANDEM_OPENAPI_CLASH EQUAL -1)
  message(FATAL_ERROR "${INPUT} must not contain the raw-string delimiter )tandem_openapi\"")
endif()
file(WRITE "${OUTPUT}.tmp"
  "// Generated from docs/openapi.yaml by src/api/openapi_embed.cmake. Do not edit.\n"
  "#include \"api/openapi.h\"\n\n"
  "namespace tandem::api {\n\n"
  "std::string_view OpenApiYaml() {\n"
  "  static constexpr std::string_view kText = R\"tandem_openapi(${TANDEM_OPENAPI_TEXT})tandem_openapi\";\n"
  "  return kText;\n"
  "}\n\n"
  "}  // namespace tandem::api\n")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")
