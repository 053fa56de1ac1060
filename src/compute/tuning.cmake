# Hyperparameter tuning: spec, samplers (random, grid, TPE), ASHA and the
# median stopping rule (tandem_tuning_core, pure logic), and the tuning
# service that runs trials as training jobs (tandem_tuning).
add_library(tandem_tuning_core
  tuning_spec.cc tuning_space.cc tuning_sampler.cc tuning_tpe.cc tuning_asha.cc)
target_link_libraries(tandem_tuning_core PUBLIC tandem_compute_core tandem_common)

tandem_test(tuning_core_test
  SOURCES tuning_spec_test.cc tuning_sampler_test.cc tuning_asha_test.cc
  DEPS tandem_tuning_core)


if(TARGET tandem_compute)
  add_library(tandem_tuning tuning_store.cc tuning_service.cc)
  target_link_libraries(tandem_tuning
    PUBLIC tandem_tuning_core tandem_compute tandem_registry tandem_bus tandem_sql tandem_common)
endif()

if(TARGET tandem_tuning)
  tandem_test(tuning_service_test SOURCES tuning_service_test.cc DEPS tandem_tuning TIMEOUT 600)
endif()
