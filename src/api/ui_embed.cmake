# Build-time helper: embeds the console bundle written by web/build.mjs into a
# C++ source as byte arrays: every file DIR/manifest.txt lists (one path
# relative to DIR a line). Usage: cmake -DDIR=... -DOUTPUT=... -P ui_embed.cmake
cmake_minimum_required(VERSION 3.20)
file(STRINGS "${DIR}/manifest.txt" TANDEM_UI_FILES)
if(NOT "index.html" IN_LIST TANDEM_UI_FILES)
  message(FATAL_ERROR "${DIR}/manifest.txt does not list index.html: the bundle is incomplete")
endif()
set(TANDEM_UI_ARRAYS "")
set(TANDEM_UI_TABLE "")
set(TANDEM_UI_INDEX 0)
foreach(f ${TANDEM_UI_FILES})
  file(READ "${DIR}/${f}" hex HEX)
  string(LENGTH "${hex}" hex_len)
  math(EXPR size "${hex_len} / 2")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "'\\\\x\\1'," bytes "${hex}")
  string(APPEND TANDEM_UI_ARRAYS "constexpr char kFile${TANDEM_UI_INDEX}[] = {${bytes}};\n")
  string(APPEND TANDEM_UI_TABLE
         "    {\"${f}\", std::string_view(kFile${TANDEM_UI_INDEX}, ${size})},\n")
  math(EXPR TANDEM_UI_INDEX "${TANDEM_UI_INDEX} + 1")
endforeach()
file(WRITE "${OUTPUT}.tmp"
  "// Generated from the console bundle by src/api/ui_embed.cmake. Do not edit.\n"
  "#include \"api/ui_assets.h\"\n\n"
  "namespace tandem::api {\n"
  "namespace {\n\n"
  "${TANDEM_UI_ARRAYS}\n"
  "constexpr UiAsset kAssets[] = {\n"
  "${TANDEM_UI_TABLE}"
  "};\n\n"
  "}  // namespace\n\n"
  "std::span<const UiAsset> UiAssets() { return kAssets; }\n\n"
  "}  // namespace tandem::api\n")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")
