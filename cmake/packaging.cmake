# Installation layout (GNUInstallDirs; `cmake --install build --prefix P`,
# `make install PREFIX=P`) and the Debian package (`make deb`, CPack):
#
#   P/bin/tandem, P/bin/tandem-train-xgboost     tandem_program(... BIN)
#   P/libexec/tandem/                            tandem_program(... HELPER):
#                                                  the programs tandem runs itself
#   P/include/tandem/plugin.h                    the native flavor plugin ABI
#   P/share/tandem/examples/                     job, tuning, transform examples
#   P/share/doc/tandem/                          README, guides, OpenAPI document
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/tandem DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/examples/
        DESTINATION ${CMAKE_INSTALL_DATADIR}/tandem/examples
        USE_SOURCE_PERMISSIONS
        PATTERN "__pycache__" EXCLUDE)
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR})

set(CPACK_PACKAGE_NAME tandem)
set(CPACK_PACKAGE_VENDOR tandem)
set(CPACK_PACKAGE_CONTACT "tandem maintainers <tandem@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "hybrid ML platform: scale-from-zero compute jobs, warm serving replicas")
set(CPACK_PACKAGE_DESCRIPTION
    "Training, batch transform, tuning and notebooks as sandboxed, metered jobs;\n\
KServe v2 serving replicas with hot swaps; a model registry, object store and\n\
event bus joining them. One `tandem` command: `tandem up` runs the control plane.")
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # tandem_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_SECTION science)
# Shared libraries (absl, xgboost, curl, sqlite, ...) are derived from the
# binaries by dpkg-shlibdeps; the programs tandem runs are listed here:
# bubblewrap sandboxes jobs, python3 (with numpy) runs Python handlers and .py
# entry points.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "bubblewrap, python3, python3-numpy")
# The example jobs train with these.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "python3-sklearn, python3-xgboost")
# Managed notebooks; the Slurm substrate's client commands.
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "jupyter-notebook, slurm-client")
include(CPack)
