# vigil_add_library(NAME <target> SOURCES ... [PUBLIC_DEPS ...] [PRIVATE_DEPS ...])
# One static library per pipeline stage; headers are included as "vigil/<stage>/<file>.h".
# Development aid for parallel work in one tree: with VIGIL_SKIP_MISSING_SOURCES=ON, sources that
# do not exist yet are skipped with a warning instead of failing the configure. Off by default.
option(VIGIL_SKIP_MISSING_SOURCES "Skip listed sources that do not exist (development only)" OFF)
function(vigil_existing_sources out)
  set(result "")
  foreach(source ${ARGN})
    if(VIGIL_SKIP_MISSING_SOURCES AND NOT EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${source})
      message(WARNING "skipping missing source ${CMAKE_CURRENT_SOURCE_DIR}/${source}")
    else()
      list(APPEND result ${source})
    endif()
  endforeach()
  set(${out} ${result} PARENT_SCOPE)
endfunction()

function(vigil_add_library)
  cmake_parse_arguments(ARG "" "NAME" "SOURCES;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
  vigil_existing_sources(ARG_SOURCES ${ARG_SOURCES})
  add_library(${ARG_NAME} STATIC ${ARG_SOURCES})
  target_include_directories(${ARG_NAME} PUBLIC
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/src>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  target_link_libraries(${ARG_NAME} PUBLIC ${ARG_PUBLIC_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
  install(TARGETS ${ARG_NAME} EXPORT vigilTargets ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
endfunction()

# vigil_add_test(NAME <target> SOURCES ... DEPS ...)
# One GoogleTest binary per stage; tests find ../shared through VIGIL_SHARED_DIR.
function(vigil_add_test)
  if(NOT VIGIL_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(ARG "" "NAME" "SOURCES;DEPS" ${ARGN})
  vigil_existing_sources(ARG_SOURCES ${ARG_SOURCES})
  if(NOT ARG_SOURCES)
    return()
  endif()
  add_executable(${ARG_NAME} ${ARG_SOURCES})
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS} vigil_testing GTest::gtest GTest::gtest_main)
  # Two properties with one value each: gtest_discover_tests splits a "A=1;B=2" ENVIRONMENT
  # list and drops the second variable.
  gtest_discover_tests(${ARG_NAME} DISCOVERY_TIMEOUT 60
    PROPERTIES ENVIRONMENT "VIGIL_SHARED_DIR=${VIGIL_SHARED_DIR}"
               ENVIRONMENT_MODIFICATION "VIGIL_TEST_DATA=set:${PROJECT_SOURCE_DIR}/tests/data")
endfunction()
