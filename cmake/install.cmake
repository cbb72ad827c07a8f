# `cmake --install` (or `make install PREFIX=...`): programs into bin/, libraries into lib/,
# public headers into include/depot/<layer>/, and the package files other projects find:
#
#   find_package(depot REQUIRED)                       # lib/cmake/depot/depotConfig.cmake
#   target_link_libraries(app PRIVATE depot::client)   # or depot::executor, depot::manager
#
#   pkg-config --cflags --libs depot                   # lib/pkgconfig/depot.pc
#
# tests/install/ installs this build into a scratch prefix and builds programs against it.
include(CMakePackageConfigHelpers)

get_property(depot_libraries GLOBAL PROPERTY DEPOT_LIBRARIES)
# The include directory comes with each target (INSTALL_INTERFACE in src/depot/CMakeLists.txt).
install(TARGETS ${depot_libraries} EXPORT depotTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS depot-manager depot-cli depot-benchmark depot-check-log
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# Relocatable: depotTargets.cmake finds the prefix from its own location.
set(depot_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/depot)
install(EXPORT depotTargets NAMESPACE depot:: DESTINATION ${depot_cmake_dir})
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/depotConfig.cmake.in
  ${PROJECT_BINARY_DIR}/depotConfig.cmake INSTALL_DESTINATION ${depot_cmake_dir})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/depotConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/depotConfig.cmake ${PROJECT_BINARY_DIR}/depotConfigVersion.cmake
  DESTINATION ${depot_cmake_dir})

# depot.pc. The libraries are static, so everything they need goes in Libs and Requires (a
# plain `pkg-config --libs` ignores the .private fields), in link order. Boost has no .pc of
# its own: its directories are written in unless the compiler searches them anyway.
set(DEPOT_PC_CFLAGS "")
foreach(dir ${Boost_INCLUDE_DIRS})
  if(NOT dir IN_LIST CMAKE_CXX_IMPLICIT_INCLUDE_DIRECTORIES)
    string(APPEND DEPOT_PC_CFLAGS " -I${dir}")
  endif()
endforeach()
set(DEPOT_PC_LIBS "")
get_target_property(boost_serialization_file Boost::serialization LOCATION)
get_filename_component(boost_lib_dir "${boost_serialization_file}" DIRECTORY)
if(NOT boost_lib_dir IN_LIST CMAKE_CXX_IMPLICIT_LINK_DIRECTORIES)
  string(APPEND DEPOT_PC_LIBS " -L${boost_lib_dir}")
endif()
string(APPEND DEPOT_PC_LIBS " -lboost_serialization -pthread")
foreach(option ${DEPOT_SANITIZE_LINK_OPTIONS})  # a sanitized build's users need the runtime
  string(APPEND DEPOT_PC_LIBS " ${option}")
endforeach()
foreach(dir LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${dir}}")
    set(DEPOT_PC_${dir} "${CMAKE_INSTALL_${dir}}")
  else()
    set(DEPOT_PC_${dir} "\${prefix}/${CMAKE_INSTALL_${dir}}")
  endif()
endforeach()
# The prefix is only known at install time (`cmake --install --prefix` overrides the one
# configured), so the file is written then: @DEPOT_PC_PREFIX@ survives the first pass.
set(DEPOT_PC_PREFIX "@DEPOT_PC_PREFIX@")
configure_file(${CMAKE_CURRENT_LIST_DIR}/depot.pc.in ${PROJECT_BINARY_DIR}/depot.pc.in @ONLY)
install(CODE "
  set(DEPOT_PC_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
  configure_file(\"${PROJECT_BINARY_DIR}/depot.pc.in\" \"${PROJECT_BINARY_DIR}/depot.pc\" @ONLY)")
install(FILES ${PROJECT_BINARY_DIR}/depot.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# Running the manager as a service (docs/configuration.md): the systemd unit where systemd
# looks for a package's units (<prefix>/lib/systemd/system: /usr/lib/systemd/system for a
# distribution package, /usr/local/lib/systemd/system for a local install; not LIBDIR, which
# may be lib/x86_64-linux-gnu), and the configuration file and key file, to copy into
# <sysconfdir>/depot/, in share/depot/packaging/ (an install never overwrites /etc). The
# paths inside are the install's bindir and sysconfdir (/etc when the prefix is /usr), known
# only at install time, as for depot.pc; tests/daemon checks the copies configured now.
set(DEPOT_BINDIR ${CMAKE_INSTALL_FULL_BINDIR})
set(DEPOT_SYSCONFDIR ${CMAKE_INSTALL_FULL_SYSCONFDIR})
set(depot_packaging depot-manager.service depot.conf depot.env)
foreach(f ${depot_packaging})
  configure_file(${PROJECT_SOURCE_DIR}/packaging/${f} ${PROJECT_BINARY_DIR}/packaging/${f} @ONLY)
endforeach()
install(CODE "
  set(DEPOT_BINDIR \"${CMAKE_INSTALL_BINDIR}\")
  if(NOT IS_ABSOLUTE \"\${DEPOT_BINDIR}\")
    set(DEPOT_BINDIR \"\${CMAKE_INSTALL_PREFIX}/\${DEPOT_BINDIR}\")
  endif()
  set(DEPOT_SYSCONFDIR \"${CMAKE_INSTALL_SYSCONFDIR}\")
  if(NOT IS_ABSOLUTE \"\${DEPOT_SYSCONFDIR}\")
    if(CMAKE_INSTALL_PREFIX STREQUAL \"/usr\")
      set(DEPOT_SYSCONFDIR \"/\${DEPOT_SYSCONFDIR}\")
    else()
      set(DEPOT_SYSCONFDIR \"\${CMAKE_INSTALL_PREFIX}/\${DEPOT_SYSCONFDIR}\")
    endif()
  endif()
  foreach(f ${depot_packaging})
    configure_file(\"${PROJECT_SOURCE_DIR}/packaging/\${f}\" \"${PROJECT_BINARY_DIR}/packaging-install/\${f}\" @ONLY)
  endforeach()")
install(FILES ${PROJECT_BINARY_DIR}/packaging-install/depot-manager.service
  DESTINATION lib/systemd/system)
install(FILES ${PROJECT_BINARY_DIR}/packaging-install/depot.conf
  DESTINATION ${CMAKE_INSTALL_DATADIR}/depot/packaging)
install(FILES ${PROJECT_BINARY_DIR}/packaging-install/depot.env
  DESTINATION ${CMAKE_INSTALL_DATADIR}/depot/packaging PERMISSIONS OWNER_READ OWNER_WRITE)
