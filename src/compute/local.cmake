# tandem_compute_local: the local substrate (local_substrate.h) and the
# tandem-job-runner supervisor it starts for each job (runner/).
# Only the header-only structs of job_spec.h/substrate.h are used from core.

# The runner's pieces (also linked by the substrate for the shared protocol).
# Deliberately without tandem_common/absl: the runner starts per job, and
# loading ~25 absl shared libraries would add tens of ms to every cold start.
# (It includes headers that mention Status but must not call into absl.)
add_library(tandem_job_runner_lib
  runner/protocol.cc runner/proc_stats.cc runner/sandbox.cc runner/supervisor.cc)
target_include_directories(tandem_job_runner_lib PUBLIC ${PROJECT_SOURCE_DIR}/src)
target_link_libraries(tandem_job_runner_lib PUBLIC nlohmann_json::nlohmann_json)

add_executable(tandem-job-runner runner/runner_main.cc)
target_link_libraries(tandem-job-runner PRIVATE tandem_job_runner_lib)

add_library(tandem_compute_local local_substrate.cc)
target_link_libraries(tandem_compute_local PUBLIC tandem_common PRIVATE tandem_job_runner_lib)
# The runner built here is the default when none sits next to the running
# executable (tests, tools); LocalSubstrateOptions.runner_path overrides it.
target_compile_definitions(tandem_compute_local
  PRIVATE TANDEM_JOB_RUNNER_PATH="$<TARGET_FILE:tandem-job-runner>")
add_dependencies(tandem_compute_local tandem-job-runner)

tandem_test(compute_local_test
  SOURCES local_substrate_test.cc runner/runner_parts_test.cc
  DEPS tandem_compute_local tandem_job_runner_lib
  TIMEOUT 600)
