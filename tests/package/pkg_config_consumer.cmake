# CTest script (cmake -P): a non-CMake consumer of the installed streamiso.pc.
#   -DPKG_CONFIG=<pkg-config> -DPREFIX=<staging prefix> -DCXX=<compiler> -DSTD=<17|20>
#   -DSOURCE=<consumer main.cpp> -DWORK=<scratch dir>
# The staging prefix is first copied elsewhere: the .pc must follow its files (relocatable),
# must not name the configure-time prefix, and must leave the language standard to the user.
cmake_minimum_required(VERSION 3.14...3.31)
foreach(v PKG_CONFIG PREFIX CXX STD SOURCE WORK)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "pkg_config_consumer.cmake: -D${v}=... is required")
  endif()
endforeach()

file(REMOVE_RECURSE "${WORK}")
set(moved "${WORK}/relocated prefix")  # a space in the path, as users have
file(COPY "${PREFIX}/" DESTINATION "${moved}")
set(pc_dir "${moved}/share/pkgconfig")
if(NOT EXISTS "${pc_dir}/streamiso.pc")
  message(FATAL_ERROR "no streamiso.pc under ${PREFIX}/share/pkgconfig")
endif()

execute_process(
  COMMAND "${CMAKE_COMMAND}" -E env "PKG_CONFIG_PATH=${pc_dir}" "PKG_CONFIG_LIBDIR=${pc_dir}"
          "${PKG_CONFIG}" --cflags streamiso
  OUTPUT_VARIABLE cflags OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "pkg-config --cflags streamiso failed (${rc})")
endif()
message(STATUS "pkg-config --cflags streamiso: ${cflags}")
if(cflags MATCHES "-std=")
  message(FATAL_ERROR "streamiso.pc sets the language standard: ${cflags}")
endif()

# The one -I must name the relocated include directory.
separate_arguments(flags UNIX_COMMAND "${cflags}")
set(include_dirs "")
foreach(f IN LISTS flags)
  if(f MATCHES "^-I(.+)$")
    get_filename_component(dir "${CMAKE_MATCH_1}" REALPATH)
    list(APPEND include_dirs "${dir}")
  endif()
endforeach()
get_filename_component(want "${moved}/include" REALPATH)
if(NOT include_dirs STREQUAL want)
  message(FATAL_ERROR "streamiso.pc points at '${include_dirs}', not at the relocated '${want}'")
endif()

if(STD STREQUAL "17")
  set(cplusplus 201703L)
elseif(STD STREQUAL "20")
  set(cplusplus 202002L)
else()
  message(FATAL_ERROR "STD must be 17 or 20")
endif()
execute_process(
  COMMAND "${CXX}" -std=c++${STD} ${flags} -DSTREAMISO_CONSUMER_CPLUSPLUS=${cplusplus}
          "${SOURCE}" -o "${WORK}/consumer"
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the C++${STD} consumer did not build with `pkg-config --cflags streamiso`")
endif()
execute_process(COMMAND "${WORK}/consumer" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the C++${STD} consumer failed (${rc})")
endif()
