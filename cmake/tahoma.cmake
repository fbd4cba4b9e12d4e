# The two helpers every target goes through (STYLE.md 11): warnings as errors, C++20, sanitizers
# on request, explicit sources and dependencies.

function(tahoma_target_defaults target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion -Werror)
  if(TAHOMA_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all)
    target_link_options(${target} PRIVATE -fsanitize=address,undefined)
  endif()
  if(TAHOMA_FUZZ)  # coverage for libFuzzer in every library, plus the sanitizers that turn bugs into findings
    target_compile_options(${target} PRIVATE -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
                                             -fno-sanitize-recover=all)
    target_link_options(${target} PRIVATE -fsanitize=address,undefined)
  endif()
endfunction()

# tahoma_add_library(NAME SOURCES a.cpp ... DEPS other_target ...)
function(tahoma_add_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(tahoma_${name} STATIC ${ARG_SOURCES})
  target_include_directories(tahoma_${name} PUBLIC ${PROJECT_SOURCE_DIR}/include)
  target_link_libraries(tahoma_${name} PUBLIC ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
  # The Python module (a shared object) links these static libraries.
  set_target_properties(tahoma_${name} PROPERTIES POSITION_INDEPENDENT_CODE ${TAHOMA_PYTHON})
  tahoma_target_defaults(tahoma_${name})
endfunction()

# tahoma_add_test(NAME SOURCES a_test.cpp ... DEPS tahoma_x ...)
function(tahoma_add_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest_main)
  target_compile_definitions(${name} PRIVATE TAHOMA_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
                                             TAHOMA_BINARY="$<TARGET_FILE:tahoma>")
  tahoma_target_defaults(${name})
  include(GoogleTest)
  gtest_discover_tests(${name} PROPERTIES ENVIRONMENT "TAHOMA_DATA=${PROJECT_SOURCE_DIR}/data" DISCOVERY_TIMEOUT 60)
endfunction()
