# tandem_compute_core: job spec, SageMaker contract, metric parser, metering.
# Pure logic over tandem_common (no processes, no store, no database).
add_library(tandem_compute_core job_spec.cc contract.cc metric_parser.cc metering.cc)
target_link_libraries(tandem_compute_core PUBLIC tandem_common)

tandem_test(compute_core_test
  SOURCES job_spec_test.cc contract_test.cc metric_parser_test.cc metering_test.cc
  DEPS tandem_compute_core)
