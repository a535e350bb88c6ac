# Every documented option of the examples: at its bounds, in combinations, just outside its
# bounds and malformed. In range: exit 0, or 3 where the run may legitimately prove nothing
# (nothing delivered / nothing leaked); refused: exit 2 with one line on stderr. The parser
# itself has a unit test.

add_executable(cli_test cli_test.cpp)
target_link_libraries(cli_test PRIVATE streamiso::streamiso)  # for its C++17 requirement
streamiso_set_warnings(cli_test)
add_test(NAME example.options.F9_parser COMMAND cli_test)  # F9: bad input
set_tests_properties(example.options.F9_parser PROPERTIES LABELS "example;options")

# Refusals and --dry-run parse only: they run in every preset that runs options tests, so the
# parser runs under UBSan (asan); tsan and clang20 skip the label. Runs of the demos in range run in the unsanitized presets; the largest
# ones (1024 cameras x 16 viewers, 4096 households: a few hundred MB, seconds of CPU) only in
# optimized unsanitized builds (the Release CI stages, the gcc20 preset).
set(_options_runs OFF)
set(_options_heavy OFF)
if(NOT STREAMISO_TEST_SCALE_DIVISOR OR STREAMISO_TEST_SCALE_DIVISOR EQUAL 1)
  set(_options_runs ON)
  if(CMAKE_BUILD_TYPE MATCHES "^(Release|RelWithDebInfo|MinSizeRel)$")
    set(_options_heavy ON)
  endif()
endif()

# streamiso_option_test(<exe> <name> <expect: 0, 2 or 0|3> [HEAVY] <args...>)
function(streamiso_option_test exe name expect)
  set(args ${ARGN})
  set(runs ON)
  if(expect STREQUAL "2")
    set(name "F9_${name}")  # F9: bad input, refused before anything runs
    set(runs OFF)
  elseif("--dry-run" IN_LIST args)
    set(runs OFF)
  endif()
  if("HEAVY" IN_LIST args)
    list(REMOVE_ITEM args HEAVY)
    if(NOT _options_heavy)
      return()
    endif()
  elseif(runs AND NOT _options_runs)
    return()
  endif()
  string(REPLACE ";" "|" joined "${args}")
  add_test(NAME example.options.${exe}.${name}
    COMMAND "${CMAKE_COMMAND}" "-DEXE=$<TARGET_FILE:${exe}>" "-DARGS=${joined}" "-DEXPECT=${expect}"
      -P "${CMAKE_CURRENT_SOURCE_DIR}/run_expect.cmake")
  set_tests_properties(example.options.${exe}.${name} PROPERTIES LABELS "example;options")
endfunction()

# Values every numeric option must refuse, whatever its range.
set(_malformed "0x10" "inf" "nan" "1e20" "-1e20" "1e300" "-1e300" "1,5" " 5" "5x")

# ---- camera_hub: wall-clock runs, kept at 0.2-1 s each ----
set(_hub_short --seconds 0.2 --cameras 4 --households 2)
streamiso_option_test(camera_hub cameras.min 0|3 --cameras 1 --households 1 --seconds 0.2)
streamiso_option_test(camera_hub cameras.max 0|3 HEAVY --cameras 1024 --households 1 --viewers 1 --seconds 0.2)
streamiso_option_test(camera_hub households.max 0|3 HEAVY --cameras 1024 --households 1024 --viewers 1 --seconds 0.2)
streamiso_option_test(camera_hub viewers.min 0|3 ${_hub_short} --viewers 1)
streamiso_option_test(camera_hub viewers.max 0|3 ${_hub_short} --viewers 16)
streamiso_option_test(camera_hub seconds.min 0|3 --seconds 0.2)
# 3600 s of wall clock is not a test: the upper bound is checked by --dry-run.
streamiso_option_test(camera_hub seconds.max.dry_run 0 --seconds 3600 --dry-run)
streamiso_option_test(camera_hub loss.min 0|3 ${_hub_short} --loss 0)
streamiso_option_test(camera_hub loss.max 0|3 ${_hub_short} --loss 50)
streamiso_option_test(camera_hub jitter.min 0|3 ${_hub_short} --jitter-ms 0)
streamiso_option_test(camera_hub jitter.max 0|3 ${_hub_short} --jitter-ms 1000)
streamiso_option_test(camera_hub reconnects.min 0|3 ${_hub_short} --reconnects 0)
streamiso_option_test(camera_hub reconnects.max 0|3 ${_hub_short} --reconnects 100)
streamiso_option_test(camera_hub seed.min 0|3 ${_hub_short} --seed 0)
streamiso_option_test(camera_hub seed.max 0|3 ${_hub_short} --seed 1000000000000000)
streamiso_option_test(camera_hub threads.min 0|3 ${_hub_short} --threads 2)
streamiso_option_test(camera_hub threads.max 0|3 ${_hub_short} --threads 64)
# Combinations: the ones that failed (issue 14), every option at its minimum, every option at
# its maximum (bar the wall-clock duration), and the poorest network.
streamiso_option_test(camera_hub combo.seconds_1 0 --seconds 1)
streamiso_option_test(camera_hub combo.reconnects_20 0 --reconnects 20 --seconds 1)
streamiso_option_test(camera_hub combo.reconnects_17_seconds_3 0 --reconnects 17 --seconds 3)
streamiso_option_test(camera_hub combo.all_min 0|3 --cameras 1 --households 1 --viewers 1 --seconds 0.2
  --loss 0 --jitter-ms 0 --reconnects 0 --seed 0 --threads 2)
streamiso_option_test(camera_hub combo.all_max 0|3 HEAVY --cameras 1024 --households 1024 --viewers 16
  --seconds 0.2 --loss 50 --jitter-ms 1000 --reconnects 100 --seed 1e15 --threads 64)
streamiso_option_test(camera_hub combo.poorest_network 0|3 --cameras 1 --households 1 --loss 50
  --jitter-ms 1000 --seconds 1)
streamiso_option_test(camera_hub combo.dry_run 0 --cameras 7 --households 7 --dry-run)
# Refused: just outside each bound, malformed, and bad combinations.
foreach(bad IN ITEMS "cameras=0" "cameras=1025" "viewers=0" "viewers=17" "households=0"
                     "households=1025" "seconds=0.19" "seconds=3600.5" "loss=-0.1" "loss=50.1"
                     "jitter-ms=-1" "jitter-ms=1000.5" "reconnects=-1" "reconnects=101"
                     "seed=-1" "seed=1000000000000001" "threads=1" "threads=65" "cameras=1.5"
                     "reconnects=2.5")
  string(REPLACE "=" ";" kv "${bad}")
  list(GET kv 0 key)
  list(GET kv 1 value)
  streamiso_option_test(camera_hub refuse.${key}.${value} 2 --${key} ${value})
endforeach()
set(_i 0)
foreach(value IN LISTS _malformed)
  math(EXPR _i "${_i} + 1")
  streamiso_option_test(camera_hub refuse.malformed.${_i} 2 --cameras "${value}")
endforeach()
streamiso_option_test(camera_hub refuse.households_above_cameras 2 --cameras 2 --households 3)
streamiso_option_test(camera_hub refuse.unknown 2 --camera 2)
streamiso_option_test(camera_hub refuse.missing_value 2 --cameras)
streamiso_option_test(camera_hub refuse.empty_value 2 --cameras=)
streamiso_option_test(camera_hub refuse.positional 2 64)

# ---- incident_replay: simulated time, kept at 5 simulated seconds unless testing it ----
set(_replay_short --seconds 5)
streamiso_option_test(incident_replay households.min 0|3 ${_replay_short} --households 2)
streamiso_option_test(incident_replay households.max 0|3 HEAVY --households 4096 --seconds 1)
streamiso_option_test(incident_replay seconds.min 0|3 --seconds 1)
streamiso_option_test(incident_replay seconds.max 0|3 HEAVY --households 2 --seconds 3600)
streamiso_option_test(incident_replay poor.min 0|3 ${_replay_short} --poor 0)
streamiso_option_test(incident_replay poor.max 0|3 ${_replay_short} --poor 100)
streamiso_option_test(incident_replay reconnect_every.min 0|3 ${_replay_short} --reconnect-every 0.5)
streamiso_option_test(incident_replay reconnect_every.max 0|3 ${_replay_short} --reconnect-every 3600)
streamiso_option_test(incident_replay spare_slots.min 0|3 ${_replay_short} --spare-slots 1)
streamiso_option_test(incident_replay spare_slots.max 0|3 ${_replay_short} --spare-slots 1024)
streamiso_option_test(incident_replay seed.min 0|3 ${_replay_short} --seed 0)
streamiso_option_test(incident_replay seed.max 0|3 ${_replay_short} --seed 1000000000000000)
# The crash of issue 14 (overlapping reconnects) at the default size, the scale target (4096
# households for 5 s, the largest night allowed), every option at its minimum and maximum.
streamiso_option_test(incident_replay combo.reconnect_every_0.5 0 --reconnect-every 0.5)
streamiso_option_test(incident_replay combo.largest_night 0|3 HEAVY --households 4096 --seconds 5)
streamiso_option_test(incident_replay combo.all_min 0|3 --households 2 --seconds 1 --poor 0
  --reconnect-every 0.5 --spare-slots 1 --seed 0)
streamiso_option_test(incident_replay combo.all_max 0|3 HEAVY --households 5 --seconds 3600 --poor 100
  --reconnect-every 3600 --spare-slots 1024 --seed 1e15)
streamiso_option_test(incident_replay combo.dry_run 0 --households 4096 --seconds 5 --dry-run)
foreach(bad IN ITEMS "households=1" "households=4097" "seconds=0.5" "seconds=3600.5" "poor=-1"
                     "poor=100.5" "reconnect-every=0.49" "reconnect-every=3601" "spare-slots=0"
                     "spare-slots=1025" "seed=-1" "seed=1000000000000001" "households=2.5")
  string(REPLACE "=" ";" kv "${bad}")
  list(GET kv 0 key)
  list(GET kv 1 value)
  streamiso_option_test(incident_replay refuse.${key}.${value} 2 --${key} ${value})
endforeach()
set(_i 0)
foreach(value IN LISTS _malformed)
  math(EXPR _i "${_i} + 1")
  streamiso_option_test(incident_replay refuse.malformed.${_i} 2 --seconds "${value}")
endforeach()
streamiso_option_test(incident_replay refuse.night_too_large 2 --households 4096 --seconds 5.01)
streamiso_option_test(incident_replay refuse.unknown 2 --household 2)
streamiso_option_test(incident_replay refuse.missing_value 2 --seconds)
streamiso_option_test(incident_replay refuse.positional 2 --seconds 5 extra)

# ---- rtp_relay: a run needs ffmpeg and takes seconds (media.rtp_relay); options parse only ----
# --dry-run prints the values in effect and runs nothing (no directory, socket or encoder): its
# stdout must be that one line, which a run would bury under its report.
foreach(dry IN ITEMS "4|0|1024" "120|1000000000|65000")
  string(REPLACE "|" ";" v "${dry}")
  list(GET v 0 s)
  list(GET v 1 seed)
  list(GET v 2 port)
  add_test(NAME example.options.rtp_relay.dry_run.${s}_${port}
    COMMAND "${CMAKE_COMMAND}" "-DEXE=$<TARGET_FILE:rtp_relay>"
      "-DARGS=--seconds|${s}|--seed|${seed}|--port|${port}|--dry-run" "-DEXPECT=0"
      "-DSTDOUT=^rtp_relay --seconds ${s} --seed ${seed} --port ${port}$"
      -P "${CMAKE_CURRENT_SOURCE_DIR}/run_expect.cmake")
  set_tests_properties(example.options.rtp_relay.dry_run.${s}_${port} PROPERTIES
    LABELS "example;options")
endforeach()
foreach(bad IN ITEMS "seconds=3.9" "seconds=120.5" "seed=-1" "seed=1.5" "port=1023" "port=65001")
  string(REPLACE "=" ";" kv "${bad}")
  list(GET kv 0 key)
  list(GET kv 1 value)
  streamiso_option_test(rtp_relay refuse.${key}.${value} 2 --${key} ${value} --dry-run)
endforeach()
streamiso_option_test(rtp_relay refuse.unknown 2 --dry-run --second 5)

# ---- jitter_example: one positional argument, the packet count (simulated time) ----
streamiso_option_test(jitter_example packets.min 0|3 1)
streamiso_option_test(jitter_example packets.max 0|3 HEAVY 1000000)
streamiso_option_test(jitter_example help 0 --help)
foreach(bad IN ITEMS "0" "1000001" "-1" "99999999999999999999" "1.5" "abc")
  streamiso_option_test(jitter_example refuse.packets.${bad} 2 ${bad})
endforeach()
set(_i 0)
foreach(value IN LISTS _malformed)
  math(EXPR _i "${_i} + 1")
  streamiso_option_test(jitter_example refuse.malformed.${_i} 2 "${value}")
endforeach()
streamiso_option_test(jitter_example refuse.two_arguments 2 3000 4000)
