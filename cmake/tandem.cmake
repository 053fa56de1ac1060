# tandem_test(NAME SOURCES a_test.cc ... DEPS lib ...)
# One gtest binary per component test, registered with ctest.
function(tandem_test name)
  if(NOT TANDEM_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;DEPS;LABELS;SERVERS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/src)
  add_test(NAME ${name} COMMAND ${name})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  # Tools scripts/bootstrap installs are required under ctest (a missing one
  # fails the test instead of skipping it: common/test_server.h).
  set_tests_properties(${name} PROPERTIES TIMEOUT ${T_TIMEOUT} LABELS "${T_LABELS}"
    ENVIRONMENT TANDEM_UNDER_CTEST=1)
  tandem_test_uses_servers(${name} ${T_SERVERS})
endfunction()

# Real servers for backend tests (PostgreSQL, NATS, S3, Slurm).
#
# tandem_test_server(ENGINE SCRIPT) registers two ctest fixtures around every
# test that needs ENGINE: `SCRIPT start DIR` (must start the engine on
# loopback, write its URI to DIR/uri and exit 0, or exit non-zero with the
# reason) and `SCRIPT stop DIR` (idempotent). DIR is
# <build>/test-servers/ENGINE. A test declares what it needs with
# `tandem_test(... SERVERS postgres ...)` (or tandem_test_uses_servers for
# add_test-based tests): ctest then runs the setup first and passes
# TANDEM_TEST_<ENGINE>_DIR; common/test_server.h reads it. Run by hand
# without ctest, such a test is skipped with a visible reason.
function(tandem_test_server engine script)
  if(NOT TANDEM_BUILD_TESTS)
    return()
  endif()
  set(dir ${CMAKE_BINARY_DIR}/test-servers/${engine})
  add_test(NAME server_${engine}_start COMMAND ${script} start ${dir})
  add_test(NAME server_${engine}_stop COMMAND ${script} stop ${dir})
  set_tests_properties(server_${engine}_start PROPERTIES FIXTURES_SETUP server_${engine}
    TIMEOUT 300 LABELS server)
  set_tests_properties(server_${engine}_stop PROPERTIES FIXTURES_CLEANUP server_${engine}
    TIMEOUT 120 LABELS server)
endfunction()

function(tandem_test_uses_servers name)
  foreach(engine ${ARGN})
    string(TOUPPER ${engine} upper)
    set_property(TEST ${name} APPEND PROPERTY FIXTURES_REQUIRED server_${engine})
    set_property(TEST ${name} APPEND PROPERTY ENVIRONMENT
      TANDEM_TEST_${upper}_DIR=${CMAKE_BINARY_DIR}/test-servers/${engine})
  endforeach()
endfunction()
