# cmake -DHEADER=depot/x/y.h -DBUILD_DIR=... -DCONFIG=... -DTARGET=... -P expect_compile_failure.cmake
#
# The test of an entry of DEPOT_HEADERS_KNOWN_TO_FAIL (tests/headers/CMakeLists.txt): builds
# TARGET, the generated TU of HEADER alone, and succeeds only if the compiler rejects HEADER
# itself. Once HEADER compiles on its own it fails, asking for the entry to be removed, so that
# the list cannot outlive the fixes.
foreach(v HEADER BUILD_DIR TARGET)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "expect_compile_failure.cmake needs -D${v}=...")
  endif()
endforeach()
set(config_args "")
if(CONFIG)
  set(config_args --config ${CONFIG})
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${BUILD_DIR} ${config_args} --target ${TARGET}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(rc EQUAL 0)
  message(FATAL_ERROR "${HEADER} now compiles on its own: remove it from "
                      "DEPOT_HEADERS_KNOWN_TO_FAIL in tests/headers/CMakeLists.txt, so that "
                      "headers_self_contained checks it from now on")
endif()
# It must fail for the header's sake (the compiler's error is inside it, or inside what it
# includes), not because, say, a library it depends on does not build.
string(REGEX REPLACE "^depot/" "" rel "${HEADER}")
string(REGEX REPLACE "([.+])" "\\\\\\1" rel_re "${rel}")
if(NOT out MATCHES "In file included from [^\n]*gen/${rel_re}\\.cpp:3:" OR
   NOT out MATCHES " error: ")
  message(FATAL_ERROR "building ${TARGET} failed, but not with an error in ${HEADER}:\n${out}")
endif()
message(STATUS "${HEADER} still does not compile on its own (known, being fixed)")
