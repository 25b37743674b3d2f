# The benchmark harness end to end in smoke mode, then a check that it wrote its report:
#   cmake -DSOURCE_DIR=... -DOUT_DIR=... -DSWITCHYARD_BIN=... -DLOAD_BIN=... -DMOCK_BIN=...
#         -P tests/bench/run_smoke.cmake
# Only direct and Switchyard are measured, so the test needs neither nginx nor Portkey (scenario
# 10 runs nginx as its load balancer where it is installed, and is skipped, saying why, where it
# is not). No figure is checked, only that the report exists, parses, names every scenario and
# every peer, and that no measurement failed outright.
foreach(var SOURCE_DIR OUT_DIR SWITCHYARD_BIN LOAD_BIN MOCK_BIN)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_smoke.cmake: -D${var}=... is required")
  endif()
endforeach()

file(REMOVE_RECURSE "${OUT_DIR}")
set(ENV{SWITCHYARD_BIN} "${SWITCHYARD_BIN}")
set(ENV{SWITCHYARD_LOAD_BIN} "${LOAD_BIN}")
set(ENV{SWITCHYARD_MOCK_UPSTREAM_BIN} "${MOCK_BIN}")
execute_process(
  COMMAND "${SOURCE_DIR}/bench/run" --smoke --out "${OUT_DIR}" --peers direct,switchyard
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "bench/run --smoke exited with ${rc}")
endif()

file(GLOB jsons "${OUT_DIR}/*.json")
file(GLOB mds "${OUT_DIR}/*.md")
list(LENGTH jsons njson)
list(LENGTH mds nmd)
if(NOT njson EQUAL 1 OR NOT nmd EQUAL 1)
  message(FATAL_ERROR "expected one JSON and one markdown report in ${OUT_DIR}, found: ${jsons} ${mds}")
endif()

set(check [=[
import json, sys
doc = json.load(open(sys.argv[1]))
md = open(sys.argv[2]).read()
problems = []
for key in ("date", "mode", "machine", "versions", "configs", "scenarios", "targets"):
    if key not in doc:
        problems.append(f"no '{key}' in the JSON")
if doc.get("mode") != "smoke":
    problems.append(f"mode is {doc.get('mode')!r}, not 'smoke'")
scenarios = ["1_peak_throughput", "2_latency_at_half_peak", "3_sequential_overhead", "4_streaming",
             "5_concurrent_streams", "6_large_bodies", "7_idle_rss", "8_translated_streaming", "9_hedging"]
paths = ["openai_to_openai", "anthropic_to_anthropic", "anthropic_to_openai", "openai_to_anthropic"]
# Scenario 8 measures Switchyard only, by path, each with a sequential twin and a baseline in
# the client's protocol. Scenario 9 measures Switchyard's model group without and with a hedge.
peers_of = {"3_sequential_overhead": ["switchyard"],
            "8_translated_streaming": ["direct_openai", "direct_anthropic"] + paths + ["seq_" + p for p in paths],
            "9_hedging": ["no_hedge", "hedge"]}
for s in scenarios:
    sc = doc.get("scenarios", {}).get(s)
    if sc is None:
        problems.append(f"scenario {s} missing")
        continue
    for peer in peers_of.get(s, ["direct", "switchyard"]):
        runs = sc.get(peer)
        if not runs:
            problems.append(f"{s}: no results for {peer}")
        elif any(r.get("failed") for r in runs):
            problems.append(f"{s}: a measurement of {peer} failed: {runs}")
    if "median" not in sc:
        problems.append(f"{s}: no medians")
# Scenario 10 (several replicas) needs nginx, Redis and PostgreSQL: run, or skipped with a reason.
if "scenario_10" not in doc.get("skipped", {}):
    for s in ("10_replicas_peak", "10_replicas_latency"):
        sc = doc.get("scenarios", {}).get(s)
        if sc is None:
            problems.append(f"scenario {s} neither ran nor was skipped with a reason")
            continue
        for peer in ("direct", "single", "replicas"):
            runs = sc.get(peer)
            if not runs or any(r.get("failed") for r in runs):
                problems.append(f"{s}: no result, or a failed one, for {peer}: {runs}")
for heading in ["## Targets"] + ["## %d. " % i for i in range(1, 11)]:
    if heading not in md:
        problems.append(f"markdown lacks '{heading}'")
if problems:
    print("\n".join(problems))
    sys.exit(1)
print(f"report ok: {sys.argv[1]}")
]=])
execute_process(COMMAND python3 -c "${check}" ${jsons} ${mds} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the smoke report is incomplete (see above)")
endif()
