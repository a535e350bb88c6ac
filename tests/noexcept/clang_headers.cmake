# CTest script (cmake -P): every public header alone through `clang++ -fno-exceptions
# -fsyntax-only`. A header in PENDING must fail because of exceptions, any other must pass, and
# every header in PENDING must exist.
#   -DCXX=<clang++> -DINCLUDE=<repository>/include -DPENDING=<header;header...>
cmake_minimum_required(VERSION 3.14...3.31)
file(GLOB_RECURSE headers RELATIVE "${INCLUDE}" "${INCLUDE}/streamiso/*.hpp")
list(SORT headers)
set(probe "${CMAKE_CURRENT_BINARY_DIR}/clang_headers_probe.cpp")
set(wrong "")
foreach(h IN LISTS PENDING)  # a header renamed or removed must leave the lists too
  if(NOT EXISTS "${INCLUDE}/${h}")
    string(APPEND wrong "${h}: on a pending list (tests/noexcept/CMakeLists.txt) but not in include/\n")
  endif()
endforeach()
foreach(h IN LISTS headers)
  file(WRITE "${probe}" "#include \"${h}\"\n")
  execute_process(COMMAND "${CXX}" -std=c++17 -fno-exceptions -fsyntax-only -I "${INCLUDE}" "${probe}"
    RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_QUIET)
  if(h IN_LIST PENDING)
    if(rc EQUAL 0)
      string(APPEND wrong "${h}: builds now; take it off the pending list\n")
    elseif(NOT err MATCHES "with exceptions disabled")
      string(APPEND wrong "${h}: fails, but not because of exceptions:\n${err}\n")
    endif()
  elseif(NOT rc EQUAL 0)
    string(APPEND wrong "${h}: does not build with -fno-exceptions:\n${err}\n")
  endif()
endforeach()
list(LENGTH headers n)
if(NOT wrong STREQUAL "")
  message(FATAL_ERROR "${wrong}")
endif()
message(STATUS "clang++ -fno-exceptions: all ${n} headers as expected")
