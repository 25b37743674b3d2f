# Runs one fuzzer as a CTest test (cmake -P; the variables come from tests/fuzz/CMakeLists.txt):
# first every input saved in its regressions/ directory, each run once, then fuzzing for
# SECONDS from the generated seeds and the corpus earlier runs of this build left behind.
# Fails on any crash, sanitizer report, leak, timeout or memory limit, in either part. A bug
# that is known and not fixed yet keeps failing its regression input, but its UBSan report is
# suppressed while fuzzing (KNOWN_BUGS), so the test still looks for new bugs meanwhile.
foreach(var FUZZER NAME SECONDS MAX_LEN DICT SEEDS REGRESSIONS CORPUS ARTIFACTS KNOWN_BUGS)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_fuzzer.cmake: ${var} is not set")
  endif()
endforeach()
file(MAKE_DIRECTORY ${CORPUS} ${ARTIFACTS} ${SEEDS})

set(failures "")
set(ubsan_options "halt_on_error=1:print_stacktrace=1")
set(ENV{UBSAN_OPTIONS} "${ubsan_options}")
set(ENV{ASAN_OPTIONS} "detect_leaks=1:halt_on_error=1")
file(GLOB regressions LIST_DIRECTORIES false ${REGRESSIONS}/*)
list(FILTER regressions EXCLUDE REGEX "/README[^/]*$")
if(regressions)
  list(SORT regressions)
  foreach(input IN LISTS regressions)
    # Given files rather than directories, a libFuzzer binary runs each of them once.
    execute_process(COMMAND ${FUZZER} -rss_limit_mb=2048 -timeout=10 ${input} RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
      list(APPEND failures "regression input ${input} fails (exit ${rc})")
    endif()
  endforeach()
endif()

# Crash, leak and timeout inputs are written under ARTIFACTS (crash-<sha1>, leak-..., timeout-...).
set(ENV{UBSAN_OPTIONS} "${ubsan_options}:suppressions=${KNOWN_BUGS}")
execute_process(
  COMMAND ${FUZZER}
          -max_total_time=${SECONDS} -timeout=10 -rss_limit_mb=2048 -max_len=${MAX_LEN}
          -dict=${DICT} -artifact_prefix=${ARTIFACTS}/ -print_final_stats=1
          ${CORPUS} ${SEEDS}
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  list(APPEND failures "fuzzing failed (exit ${rc}); the input is saved under ${ARTIFACTS}")
endif()

if(failures)
  list(JOIN failures "\n  " report)
  message(FATAL_ERROR "${NAME}:\n  ${report}")
endif()
