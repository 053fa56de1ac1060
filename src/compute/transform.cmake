# Batch transform: spec (tandem_transform_core, pure logic), the streaming
# transform engine over the runtime's Predictor (tandem_transform) and the
# tandem-transform program a transform job runs.
add_library(tandem_transform_core transform_spec.cc)
target_link_libraries(tandem_transform_core PUBLIC tandem_compute_core tandem_common)

if(TARGET tandem_runtime AND TARGET tandem_store)
  add_library(tandem_transform transform_engine.cc)
  target_link_libraries(tandem_transform PUBLIC tandem_transform_core tandem_runtime tandem_common)

  add_executable(tandem-transform transform_main.cc)
  target_link_libraries(tandem-transform PRIVATE tandem_transform tandem_store)

  tandem_test(transform_test
    SOURCES transform_spec_test.cc transform_engine_test.cc
    DEPS tandem_transform)
  if(TARGET transform_test)
    target_compile_definitions(transform_test PRIVATE TANDEM_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  endif()
endif()

# Offline (transform) and online (Predictor per request) scores are identical.
if(TARGET tandem_transform AND TANDEM_BUILD_TESTS)
  tandem_test(transform_parity_test
    SOURCES transform_parity_test.cc ${PROJECT_SOURCE_DIR}/src/runtime/xgboost_test_util.cc
    DEPS tandem_transform ${TANDEM_XGBOOST_LIB} absl::strings absl::str_format
    TIMEOUT 600)
  target_include_directories(transform_parity_test PRIVATE ${TANDEM_XGBOOST_INCLUDE_DIR})
  target_compile_definitions(transform_parity_test PRIVATE TANDEM_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
endif()

# Submitting transforms as jobs (registry reference -> artifact -> job).
if(TARGET tandem_compute AND TARGET tandem_transform)
  add_library(tandem_transform_service transform_service.cc)
  target_link_libraries(tandem_transform_service
    PUBLIC tandem_transform_core tandem_compute tandem_registry tandem_common)
  target_compile_definitions(tandem_transform_service
    PRIVATE TANDEM_TRANSFORM_PATH="$<TARGET_FILE:tandem-transform>")
  add_dependencies(tandem_transform_service tandem-transform)
endif()
if(TARGET tandem_transform_service AND TANDEM_BUILD_TESTS)
  tandem_test(transform_service_test
    SOURCES transform_service_test.cc ${PROJECT_SOURCE_DIR}/src/runtime/xgboost_test_util.cc
    DEPS tandem_transform_service tandem_runtime ${TANDEM_XGBOOST_LIB} absl::strings
         absl::str_format
    TIMEOUT 600)
  target_include_directories(transform_service_test PRIVATE ${TANDEM_XGBOOST_INCLUDE_DIR})
endif()
