# Where programs go, in the build tree and installed alike: the `tandem`
# command (and tandem-train-xgboost) in bin/, the helper programs tandem runs
# itself in libexec/tandem/. common/helper_programs.h finds the helpers from
# the running executable through this layout, so a build tree works like an
# installation under any prefix.
foreach(_dir BINDIR LIBEXECDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${_dir}}")
    message(FATAL_ERROR "CMAKE_INSTALL_${_dir} must be relative to the prefix "
                        "(tandem finds its helpers relative to bin/)")
  endif()
endforeach()
set(TANDEM_INSTALL_HELPERDIR ${CMAKE_INSTALL_LIBEXECDIR}/tandem)
file(RELATIVE_PATH TANDEM_LIBEXEC_FROM_BIN
     /prefix/${CMAKE_INSTALL_BINDIR} /prefix/${TANDEM_INSTALL_HELPERDIR})

# tandem_program(TARGET BIN|HELPER): puts an executable in the build tree's
# bin/ or libexec/tandem/ and installs it to the same place under the prefix.
function(tandem_program target kind)
  if(kind STREQUAL "BIN")
    set(dir ${CMAKE_INSTALL_BINDIR})
  elseif(kind STREQUAL "HELPER")
    set(dir ${TANDEM_INSTALL_HELPERDIR})
  else()
    message(FATAL_ERROR "tandem_program(${target} ${kind}): kind must be BIN or HELPER")
  endif()
  set_target_properties(${target} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/${dir})
  install(TARGETS ${target} RUNTIME DESTINATION ${dir})
endfunction()

# tandem_test(NAME SOURCES a_test.cc ... DEPS lib ...)
# One gtest binary per component test, registered with ctest and labelled
# `unit` (those needing a backing server are also labelled `server`, below):
# `ctest -L unit -LE server` runs the server-less unit tests (scripts/sanitize
# runs them under AddressSanitizer).
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
  set_tests_properties(${name} PROPERTIES TIMEOUT ${T_TIMEOUT} LABELS "unit;${T_LABELS}"
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
  if(ARGN)
    set_property(TEST ${name} APPEND PROPERTY LABELS server)
  endif()
  foreach(engine ${ARGN})
    string(TOUPPER ${engine} upper)
    set_property(TEST ${name} APPEND PROPERTY FIXTURES_REQUIRED server_${engine})
    set_property(TEST ${name} APPEND PROPERTY ENVIRONMENT
      TANDEM_TEST_${upper}_DIR=${CMAKE_BINARY_DIR}/test-servers/${engine})
  endforeach()
endfunction()
