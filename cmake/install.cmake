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
