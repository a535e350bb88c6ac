# CTest script (cmake -P): runs a README code block exactly as written, with only the
# placeholders a user would fill in replaced.
#   -DMODE=fetchcontent  the FetchContent block, fetching from a local mirror of this repository
#   -DMODE=install       the "Installed package" shell block, then its find_package block
#   -DSOURCE_DIR=<this repository> -DWORK=<scratch dir> -DCXX=<compiler> -DMAIN=<consumer main.cpp>
cmake_minimum_required(VERSION 3.14...3.31)
foreach(v MODE SOURCE_DIR WORK CXX MAIN)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "readme_snippets.cmake: -D${v}=... is required")
  endif()
endforeach()

# readme_block(<out> <language> <text the block must contain>): the one README block.
function(readme_block out lang needle)
  file(READ "${SOURCE_DIR}/README.md" rest)
  set(found "")
  set(count 0)
  while(TRUE)
    string(FIND "${rest}" "\n```${lang}\n" open)
    if(open EQUAL -1)
      break()
    endif()
    string(LENGTH "\n```${lang}\n" skip)
    math(EXPR begin "${open} + ${skip}")
    string(SUBSTRING "${rest}" ${begin} -1 rest)
    string(FIND "${rest}" "\n```" close)
    if(close EQUAL -1)
      message(FATAL_ERROR "README.md: unterminated ```${lang} block")
    endif()
    string(SUBSTRING "${rest}" 0 ${close} block)
    string(SUBSTRING "${rest}" ${close} -1 rest)
    string(FIND "${block}" "${needle}" hit)
    if(NOT hit EQUAL -1)
      set(found "${block}\n")
      math(EXPR count "${count} + 1")
    endif()
  endwhile()
  if(NOT count EQUAL 1)
    message(FATAL_ERROR "README.md: expected one ```${lang} block containing '${needle}', found ${count}")
  endif()
  set(${out} "${found}" PARENT_SCOPE)
endfunction()

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    string(REPLACE ";" " " shown "${ARGN}")
    message(FATAL_ERROR "failed (${rc}): ${shown}")
  endif()
endfunction()

# consumer(<dir> <target> <cmake block> [cmake args...]): a project whose CMakeLists.txt is
# the README block after the lines a user already has (project, the target to link).
function(consumer dir target block)
  file(WRITE "${dir}/CMakeLists.txt"
    "cmake_minimum_required(VERSION 3.14...3.31)\n"
    "project(readme_consumer LANGUAGES CXX)\n"
    "add_executable(${target} main.cpp)\n"
    "# ---- the README block, as written ----\n"
    "${block}")
  configure_file("${MAIN}" "${dir}/main.cpp" COPYONLY)
  run("${CMAKE_COMMAND}" -S "${dir}" -B "${dir}/build" "-DCMAKE_CXX_COMPILER=${CXX}"
      -DCMAKE_BUILD_TYPE=Release ${ARGN})
  run("${CMAKE_COMMAND}" --build "${dir}/build")
  run("${dir}/build/${target}")
endfunction()

file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}")

if(MODE STREQUAL "fetchcontent")
  readme_block(block cmake "FetchContent_Declare")
  set(placeholder "<your mirror of streamiso>")
  string(FIND "${block}" "${placeholder}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "README.md: the FetchContent block lost its '${placeholder}' placeholder")
  endif()
  # The user's mirror: a bare clone of this repository whose `main` is the commit under test
  # (so the snippet's GIT_TAG resolves offline, and to the code being tested).
  find_program(GIT git REQUIRED)
  set(mirror "${WORK}/mirror.git")
  run("${GIT}" clone --quiet --bare --no-local "${SOURCE_DIR}" "${mirror}")
  execute_process(COMMAND "${GIT}" -C "${SOURCE_DIR}" rev-parse HEAD
    OUTPUT_VARIABLE head OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "git rev-parse HEAD failed in ${SOURCE_DIR}")
  endif()
  run("${GIT}" --git-dir "${mirror}" update-ref refs/heads/main "${head}")
  string(REPLACE "${placeholder}" "file://${mirror}" block "${block}")
  consumer("${WORK}/consumer" my_relay "${block}" "-DFETCHCONTENT_BASE_DIR=${WORK}/deps")
  if(NOT EXISTS "${WORK}/deps/streamiso-src/include/streamiso/streamiso.hpp")
    message(FATAL_ERROR "FetchContent did not fetch streamiso into ${WORK}/deps")
  endif()
elseif(MODE STREQUAL "install")
  readme_block(commands sh "cmake --install")
  set(prefix "${WORK}/prefix")
  string(REPLACE "/opt/streamiso" "${prefix}" commands "${commands}")
  string(REPLACE "build/install" "${WORK}/build-install" commands "${commands}")
  file(WRITE "${WORK}/install.sh" "set -e\n${commands}")
  # Run from the repository root, as the README's `-S .` expects.
  execute_process(COMMAND sh "${WORK}/install.sh" WORKING_DIRECTORY "${SOURCE_DIR}" RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "the README's install commands failed (${rc})")
  endif()
  readme_block(block cmake "find_package(streamiso")
  consumer("${WORK}/consumer" my_nvr "${block}" "-DCMAKE_PREFIX_PATH=${prefix}")
else()
  message(FATAL_ERROR "MODE must be fetchcontent or install")
endif()
