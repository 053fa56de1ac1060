# tandem_compute_slurm: the Slurm substrate (slurm_substrate.h), the client
# commands it runs (slurm_commands.h) and tandem-slurm-step, which batch
# scripts exec on the node to keep tandem-job-runner inside the Slurm job.
if(TARGET tandem_job_runner_lib)
  add_executable(tandem-slurm-step slurm_step_main.cc)
  target_link_libraries(tandem-slurm-step PRIVATE tandem_job_runner_lib)

  add_library(tandem_compute_slurm slurm_commands.cc slurm_substrate.cc)
  target_link_libraries(tandem_compute_slurm PUBLIC tandem_common PRIVATE tandem_job_runner_lib)
  # The binaries built here are the defaults when none sits next to the
  # running executable; SlurmSubstrateOptions.{runner,step}_path override them.
  target_compile_definitions(tandem_compute_slurm PRIVATE
    TANDEM_JOB_RUNNER_PATH="$<TARGET_FILE:tandem-job-runner>"
    TANDEM_SLURM_STEP_PATH="$<TARGET_FILE:tandem-slurm-step>")
  add_dependencies(tandem_compute_slurm tandem-job-runner tandem-slurm-step)
  if(TARGET tandem_compute)
    # The control plane picks the substrate from compute.substrate.
    target_link_libraries(tandem_compute PUBLIC tandem_compute_slurm)
  endif()

  tandem_test_server(slurm ${PROJECT_SOURCE_DIR}/scripts/test-servers/slurm)
  tandem_test(compute_slurm_test
    SOURCES slurm_substrate_test.cc
    DEPS tandem_compute_slurm tandem_job_runner_lib)
  tandem_test(compute_slurm_integration_test
    SOURCES slurm_integration_test.cc
    DEPS tandem_compute_slurm tandem_job_runner_lib
    SERVERS slurm
    TIMEOUT 600)
endif()

# The job service end to end on Slurm (tandem_compute is defined by service.cmake).
if(TARGET tandem_compute AND TARGET tandem_compute_slurm)
  tandem_test(compute_slurm_job_service_test
    SOURCES slurm_job_service_test.cc
    DEPS tandem_compute
    SERVERS slurm
    TIMEOUT 300)
endif()
