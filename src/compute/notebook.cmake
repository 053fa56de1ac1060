# tandem_compute_notebooks: managed Jupyter notebooks as metered compute
# instances on the local substrate, idle-culled, their working directory
# saved to and restored from the object store.
if(TARGET tandem_compute_core AND TARGET tandem_compute_local)
  add_library(tandem_compute_notebooks notebook_store.cc notebook_activity.cc notebook_service.cc)
  target_link_libraries(tandem_compute_notebooks
    PUBLIC tandem_compute_core tandem_compute_local tandem_store tandem_bus tandem_sql tandem_common
    PRIVATE tandem_http)

  tandem_test(notebook_test
    SOURCES notebook_activity_test.cc notebook_store_test.cc notebook_service_test.cc
    DEPS tandem_compute_notebooks tandem_compute_local tandem_registry)
  set_tests_properties(notebook_test PROPERTIES TIMEOUT 600)
endif()
