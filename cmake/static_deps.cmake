# Static copies of shared dependencies for short-lived executables.
#
# A process that lives a few milliseconds (a tuning trial's trainer) pays for
# every shared library it loads: ld.so opens and maps each one and walks all of
# them for every symbol it binds (the trainer loaded ~27 abseil libraries and
# yaml-cpp before this). Debian ships abseil and yaml-cpp also as static
# archives (libabsl_*.a in libabsl-dev, libyaml-cpp.a in libyaml-cpp-dev), so
# such an executable can take those from the archives while everything else
# keeps the shared libraries.
#
#   tandem_static_capable(<var> <imported target>...)
#       For a library's target_link_libraries: <var> gets, per target, a
#       generator expression that names the target itself, or its static twin
#       when the executable being linked has TANDEM_STATIC_DEPS set. Every
#       other consumer links exactly what it linked before.
#   tandem_static_deps(<executable>)
#       Links <executable> with those twins, --as-needed (a shared library none
#       of whose symbols the executable uses is not loaded) and -O1.
#
# A twin (tandem_static_<target>, `::` as `_`) is an IMPORTED GLOBAL target
# with the original's usage requirements: a SHARED one becomes STATIC with the
# archive beside the shared object (libX.so.N -> libX.a), an INTERFACE one
# stays INTERFACE; their link dependencies are twinned the same way. A shared
# library without its archive is a configure error naming the file.
#
# Only executables use twins: a shared library linked from two places must not
# carry a second copy of abseil's globals.

function(_tandem_imported_location target out_var)
  get_target_property(loc ${target} IMPORTED_LOCATION)
  if(NOT loc)
    get_target_property(configs ${target} IMPORTED_CONFIGURATIONS)
    foreach(config IN LISTS configs)
      get_target_property(loc ${target} IMPORTED_LOCATION_${config})
      if(loc)
        break()
      endif()
    endforeach()
  endif()
  if(NOT loc)
    message(FATAL_ERROR "static_deps: ${target} names no library file")
  endif()
  set(${out_var} ${loc} PARENT_SCOPE)
endfunction()

# Sets <out_var> to the twin of <target> (created on first use); a non-target
# item (a flag, -latomic) is returned unchanged.
function(_tandem_static_twin item out_var)
  if(NOT TARGET ${item})
    set(${out_var} ${item} PARENT_SCOPE)
    return()
  endif()
  string(REPLACE "::" "_" twin "tandem_static_${item}")
  set(${out_var} ${twin} PARENT_SCOPE)
  if(TARGET ${twin})
    return()
  endif()
  get_target_property(type ${item} TYPE)
  get_target_property(imported ${item} IMPORTED)
  if(NOT imported)
    message(FATAL_ERROR "static_deps: ${item} is not an imported target")
  endif()
  if(type STREQUAL "SHARED_LIBRARY" OR type STREQUAL "UNKNOWN_LIBRARY")
    _tandem_imported_location(${item} shared)
    string(REGEX REPLACE "\\.so(\\.[0-9.]+)?$" ".a" archive "${shared}")
    if(archive STREQUAL shared OR NOT EXISTS "${archive}")
      message(FATAL_ERROR "static_deps: ${item} has no static archive beside ${shared} "
                          "(its Debian -dev package ships it; see scripts/bootstrap)")
    endif()
    add_library(${twin} STATIC IMPORTED GLOBAL)
    set_target_properties(${twin} PROPERTIES IMPORTED_LOCATION "${archive}")
  elseif(type STREQUAL "STATIC_LIBRARY" OR type STREQUAL "INTERFACE_LIBRARY")
    if(type STREQUAL "STATIC_LIBRARY")
      _tandem_imported_location(${item} archive)
      add_library(${twin} STATIC IMPORTED GLOBAL)
      set_target_properties(${twin} PROPERTIES IMPORTED_LOCATION "${archive}")
    else()
      add_library(${twin} INTERFACE IMPORTED GLOBAL)
    endif()
  else()
    message(FATAL_ERROR "static_deps: ${item} is a ${type}")
  endif()
  foreach(prop INTERFACE_INCLUDE_DIRECTORIES INTERFACE_SYSTEM_INCLUDE_DIRECTORIES
               INTERFACE_COMPILE_DEFINITIONS INTERFACE_COMPILE_OPTIONS
               INTERFACE_COMPILE_FEATURES INTERFACE_LINK_OPTIONS)
    get_target_property(value ${item} ${prop})
    if(value)
      set_target_properties(${twin} PROPERTIES ${prop} "${value}")
    endif()
  endforeach()
  get_target_property(deps ${item} INTERFACE_LINK_LIBRARIES)
  set(twin_deps "")
  if(deps)
    foreach(dep IN LISTS deps)
      _tandem_static_twin(${dep} dep_twin)
      list(APPEND twin_deps ${dep_twin})
    endforeach()
  endif()
  set_target_properties(${twin} PROPERTIES INTERFACE_LINK_LIBRARIES "${twin_deps}")
endfunction()

function(tandem_static_capable out_var)
  set(items "")
  foreach(target IN LISTS ARGN)
    _tandem_static_twin(${target} twin)
    list(APPEND items "$<IF:$<BOOL:$<TARGET_PROPERTY:TANDEM_STATIC_DEPS>>,${twin},${target}>")
  endforeach()
  set(${out_var} ${items} PARENT_SCOPE)
endfunction()

function(tandem_static_deps target)
  get_target_property(type ${target} TYPE)
  if(NOT type STREQUAL "EXECUTABLE")
    message(FATAL_ERROR "tandem_static_deps(${target}): only executables (a ${type} given)")
  endif()
  set_target_properties(${target} PROPERTIES TANDEM_STATIC_DEPS ON)
  target_link_options(${target} PRIVATE LINKER:--as-needed LINKER:-O1)
endfunction()
