# tandem_compute: the training-job service (state machine, scheduler, staging,
# finalization with artifact upload and model registration, restart safety,
# warm pool). Never links anything under src/serving.
if(TARGET tandem_compute_core AND TARGET tandem_compute_local)
  add_library(tandem_compute
    job_state.cc job_store.cc staging.cc warm_pool.cc finalize.cc job_service.cc)
  target_link_libraries(tandem_compute
    PUBLIC tandem_compute_core tandem_compute_local tandem_store tandem_registry tandem_bus
           tandem_sql tandem_common)

  tandem_test(job_service_test SOURCES job_service_test.cc warm_pool_test.cc DEPS tandem_compute)
  set_tests_properties(job_service_test PROPERTIES TIMEOUT 600)
  tandem_test(finalize_test SOURCES finalize_test.cc DEPS tandem_compute)
endif()
