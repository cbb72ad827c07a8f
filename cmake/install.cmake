# `cmake --install` (or `make install PREFIX=...`): programs into bin/, libraries into lib/,
# public headers into include/depot/<layer>/, and the package files other projects find:
#
#   find_package(depot REQUIRED)                       # lib/cmake/depot/depotConfig.cmake
#   target_link_libraries(app PRIVATE depot::client)   # or depot::executor, depot::manager
#
#   pkg-config --cflags --libs depot                   # lib/pkgconfig/depot.pc
include(CMakePackageConfigHelpers)

get_property(depot_libraries GLOBAL PROPERTY DEPOT_LIBRARIES)
install(TARGETS ${depot_libraries} EXPORT depotTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS depot-manager depot-cli depot-benchmark
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

set(depot_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/depot)
install(EXPORT depotTargets NAMESPACE depot:: DESTINATION ${depot_cmake_dir})
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/depotConfig.cmake.in
  ${PROJECT_BINARY_DIR}/depotConfig.cmake INSTALL_DESTINATION ${depot_cmake_dir})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/depotConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/depotConfig.cmake ${PROJECT_BINARY_DIR}/depotConfigVersion.cmake
  DESTINATION ${depot_cmake_dir})

configure_file(${CMAKE_CURRENT_LIST_DIR}/depot.pc.in ${PROJECT_BINARY_DIR}/depot.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/depot.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
