# tandem_compute_core: job spec, SageMaker contract, metric parser, metering.
# Pure logic over tandem_common (no processes, no store, no database).
add_library(tandem_compute_core job_spec.cc contract.cc metric_parser.cc metering.cc)
target_link_libraries(tandem_compute_core PUBLIC tandem_common)
