#!/usr/bin/env python3
"""The benchmark harness's bookkeeping (python3 standard library only).

  report.py assemble SCRATCH OUT.json   raw measurements of bench/run -> the results JSON:
                                        per-repeat results, medians with min-max, ratios and
                                        differences computed pair by pair, the targets
  report.py render OUT.json             results JSON -> OUT.md (one table per scenario and the
                                        targets) and OUT-throughput.png, OUT-latency.png
  report.py progress SCRATCH SCENARIO   one line for bench/run's progress output
  report.py half-peak SCRATCH           scenario 2's rate: 50% of Switchyard's median peak
  report.py slow-peers SCRATCH RATE     gateways too slow for RATE, each with 50% of its own peak
  report.py watch-streams PORT FILE     polls the mock's /mock/stats, keeps the most active
                                        streams seen in FILE (until SIGTERM)
  report.py hedge-counters SY_PORT SLOW_PORT HEALTHY_PORT [--reset | --since BEFORE.json]
                                        scenario 9's counters as JSON: the gateway's hedges and
                                        attempts (/metrics; --since: minus BEFORE) and both
                                        mocks' /mock/stats (--reset: zeroed after reading)

SCRATCH layout (written by bench/run): meta/<section>/<key> text files; raw/<scenario>/
params.json, <target>.<repeat>.json (switchyard-load output, or {"failed":true,...}) and
<target>.<repeat>.extra.json (RSS and the like).
"""

import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

# governed: a second Switchyard with governance on (bench/run --peers ...,governed).
# single, replicas: scenario 10's configurations (one Switchyard with SQLite; three behind nginx
# sharing PostgreSQL and Redis).
TARGETS = ["direct", "switchyard", "governed", "nginx", "portkey", "single", "replicas"]
GATEWAYS = TARGETS[1:]
SCENARIOS = [
    ("1_peak_throughput", "1. Peak throughput, small JSON"),
    ("2_latency_at_half_peak", "2. Latency at a fixed rate (50% of Switchyard's peak)"),
    ("3_sequential_overhead", "3. Sequential overhead (interleaved direct / gateway)"),
    ("4_streaming", "4. Streaming: 20 chunks 5 ms apart"),
    ("5_concurrent_streams", "5. Concurrent slow streams"),
    ("6_large_bodies", "6. 1 MB request bodies"),
    ("7_idle_rss", "7. Idle RSS after start"),
    ("8_translated_streaming", "8. Translated streaming: OpenAI and Anthropic clients and upstreams"),
    ("9_hedging", "9. Hedging: p99 time to first token over a target with a slow tail"),
    ("10_replicas_peak", "10. Several replicas: peak throughput, governance on"),
    ("10_replicas_latency", "10. Several replicas: latency at a fixed rate, governance on"),
]
TITLES = dict(SCENARIOS)
# Scenario 10's two measurements are read like scenarios 1 and 2.
KIND = {"10_replicas_peak": "1_peak_throughput", "10_replicas_latency": "2_latency_at_half_peak"}
# Throughput ratios, computed per repeat (same run, same repeat index) then summarized.
RATIO_PAIRS = [("switchyard", "nginx"), ("switchyard", "portkey"), ("switchyard", "direct"),
               ("nginx", "direct"), ("portkey", "direct"), ("governed", "switchyard"),
               ("replicas", "single"), ("single", "direct"), ("replicas", "direct")]
# CPU per request of the server, compared per repeat the same way (scenario 1).
CPU_RATIO_PAIRS = [("switchyard", "nginx"), ("governed", "switchyard")]
# Scenario 8's paths through Switchyard, client_to_upstream; each has a direct_<client> baseline
# (the mock's endpoint in the client's protocol) and a seq_<path> sequential measurement.
XLATE_PATHS = ["openai_to_openai", "anthropic_to_anthropic", "anthropic_to_openai", "openai_to_anthropic"]
XLATE_ADDED = ["ttft_p50_us", "ttft_p99_us", "gap_p50_us", "gap_p99_us"]
XLATE_SEQ = ["overhead_p50_us", "overhead_p90_us", "overhead_p99_us", "gateway_p50_us", "direct_p50_us",
             "pairs", "errors"]
PROTOCOL_LABEL = {"openai": "OpenAI", "anthropic": "Anthropic"}
# Scenario 9's two configurations of the same model group, and the figures compared per repeat.
HEDGE_CONFIGS = ["no_hedge", "hedge"]
HEDGE_COMPARED = ["ttft_p50_us", "ttft_p90_us", "ttft_p99_us", "ttft_p999_us", "latency_p99_us"]


def xlate_split(path):
    client, upstream = path.split("_to_")
    return client, upstream


def xlate_pair(client):
    """(translated, pass-through) paths of one client protocol: same client, same timing rules."""
    other = "anthropic" if client == "openai" else "openai"
    return f"{client}_to_{other}", f"{client}_to_{client}"


# Figures whose difference to direct, per repeat, is "added" by the gateway.
ADDED = {
    "2_latency_at_half_peak": ["p50_us", "p99_us", "p999_us"],
    "4_streaming": ["ttft_p50_us", "ttft_p99_us", "gap_p50_us", "gap_p99_us"],
}


# --------------------------------------------------------------------------------------------
# Reading the scratch directory.

def read_meta(scratch):
    meta = {}
    base = os.path.join(scratch, "meta")
    for section in sorted(os.listdir(base)) if os.path.isdir(base) else []:
        d = os.path.join(base, section)
        meta[section] = {}
        for key in sorted(os.listdir(d)):
            with open(os.path.join(d, key), errors="replace") as f:
                meta[section][key] = f.read().rstrip("\n")
    return meta


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        return {"failed": True, "reason": f"unreadable result: {e}"}


def load_runs(scratch, scenario):
    """{target: [record per repeat, in repeat order]}; a record is the load generator's JSON
    plus "repeat" and whatever the extra file holds."""
    d = os.path.join(scratch, "raw", scenario)
    runs = {}
    if not os.path.isdir(d):
        return runs
    pat = re.compile(r"^([a-z_]+)\.(\d+)(\.extra)?\.json$")
    found = {}
    for name in os.listdir(d):
        m = pat.match(name)
        if not m:
            continue
        target, rep, is_extra = m.group(1), int(m.group(2)), bool(m.group(3))
        rec = found.setdefault((target, rep), {"repeat": rep})
        data = read_json(os.path.join(d, name))
        if is_extra:
            rec.setdefault("extra", {}).update(data)
        else:
            rec.update(data)
    for (target, rep), rec in sorted(found.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        runs.setdefault(target, []).append(rec)
    return {t: runs[t] for t in order_targets(runs)}


def order_targets(keys):
    """The targets in their usual order, then stand-ins like direct_for_portkey."""
    return [t for t in TARGETS if t in keys] + sorted(k for k in keys if k not in TARGETS)


def target_label(target):
    if target == "governed":
        return "switchyard, governance on"
    if target == "single":
        return "one Switchyard, SQLite"
    if target == "replicas":
        return "3 replicas behind nginx, PostgreSQL + Redis"
    if target in ("no_hedge", "hedge"):
        return {"no_hedge": "without hedge", "hedge": "with hedge"}[target]
    if target.startswith("direct_for_"):
        return f"direct, at {target[len('direct_for_'):]}'s rate"
    return target


def read_params(scratch, scenario):
    p = os.path.join(scratch, "raw", scenario, "params.json")
    return read_json(p) if os.path.exists(p) else {}


# --------------------------------------------------------------------------------------------
# Figures of one measurement.

def _q(rec, key, q):
    v = rec.get(key)
    if not isinstance(v, dict) or not v.get("count"):
        return None
    return v.get(q)


def _mb(kb):
    return None if kb is None else kb * 1024 / 1e6


def figures(scenario, rec):
    scenario = KIND.get(scenario, scenario)
    if rec.get("failed"):
        return {}
    x = rec.get("extra", {})
    errors = rec.get("errors")
    if scenario in ("1_peak_throughput", "6_large_bodies"):
        out = {"throughput_rps": rec.get("throughput_rps"), "p50_us": _q(rec, "latency_us", "p50"),
               "p99_us": _q(rec, "latency_us", "p99"), "p999_us": _q(rec, "latency_us", "p999"),
               "errors": errors}
        # The server's own CPU time over the measured requests (bench/run reads it from /proc
        # around the measurement; the warm-up runs before it).
        if isinstance(x.get("cpu_s"), (int, float)) and rec.get("requests"):
            out["cpu_us_per_request"] = x["cpu_s"] * 1e6 / rec["requests"]
        return out
    if scenario == "2_latency_at_half_peak":
        return {"throughput_rps": rec.get("throughput_rps"), "offered_rps": rec.get("rate"),
                "p50_us": _q(rec, "latency_us", "p50"), "p99_us": _q(rec, "latency_us", "p99"),
                "p999_us": _q(rec, "latency_us", "p999"), "errors": errors}
    if scenario == "3_sequential_overhead":
        # bench/run sends direct as the target and the gateway as the compare target;
        # switchyard-load's paired difference is compare minus target, i.e. gateway minus direct.
        # The means tell which way round the differences are, should that convention change.
        c = rec.get("compare", {})
        diff = c.get("paired_diff_us") or {}
        flip = False
        mt, mc, md = (rec.get("latency_us") or {}).get("mean"), (c.get("latency_us") or {}).get("mean"), diff.get("mean")
        if None not in (mt, mc, md):
            flip = abs(md - (mt - mc)) < abs(md - (mc - mt))
        p50 = _q(c, "paired_diff_us", "p50")
        out = {"overhead_p50_us": (-p50 if flip and p50 is not None else p50),
               "overhead_p90_us": None if flip else _q(c, "paired_diff_us", "p90"),
               "overhead_p99_us": None if flip else _q(c, "paired_diff_us", "p99"),
               "gateway_p50_us": _q(c, "latency_us", "p50"),
               "direct_p50_us": _q(rec, "latency_us", "p50"), "pairs": _q(c, "paired_diff_us", "count"),
               "errors": errors}
        return out
    if scenario == "8_translated_streaming":
        if rec.get("mode") == "sequential":
            return figures("3_sequential_overhead", rec)
        return figures("4_streaming", rec)
    if scenario == "4_streaming":
        return {"ttft_p50_us": _q(rec, "ttft_us", "p50"), "ttft_p99_us": _q(rec, "ttft_us", "p99"),
                "gap_p50_us": _q(rec, "gap_us", "p50"), "gap_p99_us": _q(rec, "gap_us", "p99"),
                "streams": rec.get("ok"), "events_per_stream": rec.get("events_per_stream"),
                "errors": errors}
    if scenario == "5_concurrent_streams":
        return {"streams_ok": rec.get("ok"), "errors": errors,
                "max_active_streams": x.get("max_active_streams"),
                "peak_rss_mb": _mb(x.get("peak_rss_kb")), "rss_after_mb": _mb(x.get("rss_after_kb"))}
    if scenario == "7_idle_rss":
        return {"idle_rss_mb": _mb(x.get("idle_rss_kb"))}
    if scenario == "9_hedging":
        out = {"ttft_p50_us": _q(rec, "ttft_us", "p50"), "ttft_p90_us": _q(rec, "ttft_us", "p90"),
               "ttft_p99_us": _q(rec, "ttft_us", "p99"), "ttft_p999_us": _q(rec, "ttft_us", "p999"),
               "ttft_max_us": _q(rec, "ttft_us", "max"), "latency_p99_us": _q(rec, "latency_us", "p99"),
               "streams": rec.get("ok"), "errors": errors}
        for k in ("hedges_sent", "hedges_won", "hedges_lost", "slow_requests", "slow_aborted",
                  "healthy_requests", "healthy_aborted"):
            out[k] = x.get(k)
        return out
    return {}


def stats(values):
    vals = [v for v in values if isinstance(v, (int, float))]
    if not vals:
        return None
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals),
            "values": values}


# --------------------------------------------------------------------------------------------
# assemble

def assemble_scenario(scratch, scenario):
    runs = load_runs(scratch, scenario)
    if not runs:
        return None
    out = {"title": TITLES[scenario], "params": read_params(scratch, scenario)}
    per_repeat = {}  # target -> {repeat: figures}
    for target, recs in runs.items():
        out[target] = recs
        per_repeat[target] = {r["repeat"]: figures(scenario, r) for r in recs}
    # Pairwise: differences to direct and ratios, each within one repeat.
    for target in GATEWAYS:
        if target not in per_repeat or ("direct" not in per_repeat and f"direct_for_{target}" not in per_repeat):
            continue
        base = per_repeat.get(f"direct_for_{target}", per_repeat["direct"])
        for rep, f in per_repeat[target].items():
            d = base.get(rep, {})
            for key in ADDED.get(KIND.get(scenario, scenario), []):
                if f.get(key) is not None and d.get(key) is not None:
                    f["added_" + key] = f[key] - d[key]
    if scenario == "8_translated_streaming":
        median = xlate_assemble(per_repeat, out)  # also sets ratios and translation_overhead
    elif scenario == "9_hedging":
        median = hedge_assemble(per_repeat, out)
    else:
        median = medians(per_repeat)
    out["median"] = median
    ratios = out.get("ratios", {})
    if KIND.get(scenario, scenario) in ("1_peak_throughput", "6_large_bodies"):
        for pairs, key, label in ((RATIO_PAIRS, "throughput_rps", "throughput"),
                                  (CPU_RATIO_PAIRS, "cpu_us_per_request", "CPU per request")):
            for a, b in pairs:
                s = repeat_ratios(per_repeat, a, b, key)
                if s:
                    ratios[f"{a}/{b} {label}"] = s
    out["ratios"] = ratios
    failures = []
    for target, recs in runs.items():
        for r in recs:
            if r.get("failed"):
                failures.append(f"{target} repeat {r['repeat']}: {r.get('reason')}: "
                                f"{(r.get('stderr') or '').strip()[-300:]}")
    out["failures"] = failures
    return out


def repeat_ratios(per_repeat, a, b, key):
    """Stats of a's figure over b's, each repeat against the same repeat, or None."""
    if a not in per_repeat or b not in per_repeat:
        return None
    vals = []
    for rep in sorted(per_repeat[a]):
        x = per_repeat[a][rep].get(key)
        y = per_repeat[b].get(rep, {}).get(key)
        if x is not None and y:
            vals.append(x / y)
    return stats(vals)


def medians(per_repeat):
    """{target: {figure: stats over the repeats}}."""
    median = {}
    for target, reps in per_repeat.items():
        keys = []
        for f in reps.values():
            keys += [k for k in f if k not in keys]
        median[target] = {}
        for k in keys:
            s = stats([reps[r].get(k) for r in sorted(reps)])
            if s is not None:
                median[target][k] = s
    return median


def xlate_assemble(per_repeat, out):
    """Scenario 8: each path's figures gain added_* over its client's direct baseline and the
    sequential figures of seq_<path> (as seq_*), all within one repeat; then the medians, and
    the translated/pass-through ratios per client protocol, per repeat, then summarized."""
    for path in XLATE_PATHS:
        if path not in per_repeat:
            continue
        client, _ = xlate_split(path)
        base = per_repeat.get(f"direct_{client}", {})
        seq = per_repeat.get(f"seq_{path}", {})
        for rep, f in per_repeat[path].items():
            d = base.get(rep, {})
            for key in XLATE_ADDED:
                if f.get(key) is not None and d.get(key) is not None:
                    f["added_" + key] = f[key] - d[key]
            for key in XLATE_SEQ:
                v = seq.get(rep, {}).get(key)
                if v is not None:
                    f["seq_" + key] = v
    median = medians(per_repeat)
    ratios, overhead = {}, {}
    for client in ("anthropic", "openai"):
        translated, passthrough = xlate_pair(client)
        if translated not in per_repeat or passthrough not in per_repeat:
            continue
        entry = {"translated": translated, "pass_through": passthrough}
        for key, label in (("added_ttft_p50_us", "added TTFT p50"),
                           ("seq_overhead_p50_us", "sequential per-request added time")):
            vals, extra, undefined = [], [], 0
            for rep in sorted(per_repeat[translated]):
                t = per_repeat[translated][rep].get(key)
                p = per_repeat[passthrough].get(rep, {}).get(key)
                if t is None or p is None:
                    continue
                extra.append(t - p)
                # A pass-through overhead at or below zero is noise: no meaningful ratio.
                if p > 0:
                    vals.append(t / p)
                else:
                    undefined += 1
            short = "ttft" if key.startswith("added_ttft") else "per_request"
            entry[f"{short}_ratio"] = stats(vals)
            entry[f"{short}_extra_us"] = stats(extra)
            entry[f"{short}_ratio_undefined_repeats"] = undefined
            if entry[f"{short}_ratio"]:
                ratios[f"{PROTOCOL_LABEL[client]} client: translated/pass-through, {label}"] = entry[f"{short}_ratio"]
        overhead[client] = entry
    out["median"] = median
    out["ratios"] = ratios
    out["translation_overhead"] = overhead
    return median


def hedge_assemble(per_repeat, out):
    """Scenario 9: the medians, and per repeat the hedged figure minus the unhedged one."""
    median = medians(per_repeat)
    diffs = {}
    if all(c in per_repeat for c in HEDGE_CONFIGS):
        for key in HEDGE_COMPARED:
            vals = []
            for rep in sorted(per_repeat["hedge"]):
                h = per_repeat["hedge"][rep].get(key)
                n = per_repeat["no_hedge"].get(rep, {}).get(key)
                if h is not None and n is not None:
                    vals.append(h - n)
            st = stats(vals)
            if st:
                diffs[key] = st
    out["hedge_minus_no_hedge"] = diffs
    return median


def _fmt_us(v):
    return "n/a" if v is None else f"{v:+,.0f} µs"


def evaluate_targets(doc):
    sc = doc["scenarios"]
    smoke = doc.get("mode") == "smoke"

    def med(scenario, target, key):
        s = sc.get(scenario) or {}
        return (s.get("median", {}).get(target, {}).get(key) or {}).get("median")

    def ratio(name):
        return ((sc.get("1_peak_throughput") or {}).get("ratios", {}).get(name) or {}).get("median")

    t = {}

    def put(name, goal, value, measured, ok, note=None):
        entry = {"goal": goal, "measured": measured if value is not None else "not measured",
                 "value": value, "met": (bool(ok) if value is not None else None)}
        notes = [n for n in (note, "smoke run: tiny durations, not for quoting" if smoke else None) if n]
        if notes:
            entry["note"] = "; ".join(notes)
        t[name] = entry

    r = ratio("switchyard/nginx throughput")
    put("throughput_vs_nginx", "Peak throughput (scenario 1) ≥ nginx", r,
        f"{r:.2f}× nginx" if r is not None else None, r is not None and r >= 1.0,
        None if r is not None else "needs switchyard and nginx in the same run")
    r = ratio("switchyard/portkey throughput")
    put("throughput_vs_portkey", "Peak throughput (scenario 1) ≥ 30× Portkey", r,
        f"{r:.1f}× Portkey" if r is not None else None, r is not None and r >= 30.0,
        None if r is not None else "needs switchyard and portkey in the same run")
    r = ratio("governed/switchyard throughput")
    if r is not None:
        put("governance_throughput", "Governance on loses ≤ 5% of peak throughput (scenario 1, issue 12)",
            r, f"{(r - 1) * 100:+.1f}% (governed/switchyard {r:.3f}×)", r >= 0.95)
    v = med("2_latency_at_half_peak", "switchyard", "added_p99_us")
    put("added_p99_at_half_peak", "Added p99 at 50% of peak (scenario 2) ≤ 0.3 ms", v,
        _fmt_us(v) if v is not None else None, v is not None and v <= 300)
    v = med("3_sequential_overhead", "switchyard", "overhead_p50_us")
    put("sequential_overhead", "Sequential overhead, median of paired differences (scenario 3) ≤ 0.1 ms",
        v, _fmt_us(v) if v is not None else None, v is not None and v <= 100)
    v = med("4_streaming", "switchyard", "added_ttft_p50_us")
    put("streaming_added_ttft", "Streaming: added time to first token, median (scenario 4) ≤ 0.2 ms",
        v, _fmt_us(v) if v is not None else None, v is not None and v <= 200)
    v = med("4_streaming", "switchyard", "added_gap_p99_us")
    put("streaming_added_gap_p99", "Streaming: added gap per chunk, p99 (scenario 4) ≤ 50 µs",
        v, _fmt_us(v) if v is not None else None, v is not None and v <= 50)
    s5 = sc.get("5_concurrent_streams") or {}
    rss = med("5_concurrent_streams", "switchyard", "peak_rss_mb")
    err = (s5.get("median", {}).get("switchyard", {}).get("errors") or {}).get("max")
    n = (s5.get("params") or {}).get("connections")
    failed = any(r.get("failed") for r in s5.get("switchyard", []))
    note = None
    if n is not None and n < 10000:
        note = f"ran {n:,} concurrent streams, not 10,000"
    value = None if rss is None or err is None else rss
    put("streams_10k", "10,000 concurrent streams (scenario 5): zero errors, peak RSS ≤ 150 MB", value,
        f"{err:,.0f} errors (worst repeat), {rss:.1f} MB peak RSS" if value is not None else None,
        value is not None and not failed and err == 0 and rss <= 150, note)
    v = med("7_idle_rss", "switchyard", "idle_rss_mb")
    put("idle_rss", "Idle RSS after start (scenario 7) ≤ 30 MB", v,
        f"{v:.1f} MB" if v is not None else None, v is not None and v <= 30)
    # Translation: judged on the sequential per-request added time (the whole stream, request to
    # last event, nothing else in flight); the added-TTFT ratio is shown beside it.
    xo = (sc.get("8_translated_streaming") or {}).get("translation_overhead") or {}
    parts, worst, missing = [], None, []
    for client in ("anthropic", "openai"):
        e = xo.get(client) or {}
        r = (e.get("per_request_ratio") or {}).get("median")
        rt = (e.get("ttft_ratio") or {}).get("median")
        if r is None:
            missing.append(PROTOCOL_LABEL[client])
            continue
        worst = r if worst is None else max(worst, r)
        parts.append(f"{PROTOCOL_LABEL[client]} client {r:.2f}× (added TTFT p50: "
                     + (f"{rt:.2f}×" if rt is not None else "n/a") + ")")
    note = None
    if missing and xo:
        note = f"no ratio for the {' and '.join(missing)} client: its pass-through overhead was not above zero"
    elif not xo:
        note = "needs scenario 8"
    put("translation_overhead",
        "Translated streaming (scenario 8): per-request overhead ≤ 2× pass-through, same client protocol "
        "(sequential per-request added time)",
        worst if not missing else None, "; ".join(parts), worst is not None and worst <= 2.0, note)
    return t


def cmd_assemble(scratch, out_path):
    meta = read_meta(scratch)
    run = meta.get("run", {})
    doc = {
        "date": os.path.splitext(os.path.basename(out_path))[0],
        "mode": run.get("mode", "full"),
        "started": run.get("started"),
        "finished": run.get("finished"),
        "repeats": int(run.get("repeats", "1")),
        "peers_requested": run.get("peers_requested", "").split(","),
        "peers_measured": [p for p in run.get("peers_measured", "").split(",") if p],
        "skipped": meta.get("skipped", {}),
        "machine": meta.get("machine", {}),
        "versions": meta.get("versions", {}),
        "configs": meta.get("configs", {}),
        "load_generator": {"threads": int(run.get("load_threads", "1"))},
        "governance": run.get("governance", "off"),
        "scenarios": {},
    }
    for key, _ in SCENARIOS:
        s = assemble_scenario(scratch, key)
        if s is not None:
            doc["scenarios"][key] = s
    doc["targets"] = evaluate_targets(doc)
    tmp = out_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=1, ensure_ascii=False)
        f.write("\n")
    os.replace(tmp, out_path)


# --------------------------------------------------------------------------------------------
# render

def fmt_num(v, kind):
    if v is None:
        return "–"
    if kind == "us":
        return f"{v:,.0f}"
    if kind == "signed_us":
        return f"{v:+,.0f}"
    if kind == "us1":
        return f"{v:,.1f}"
    if kind == "rps":
        return f"{v:,.0f}"
    if kind == "mb":
        return f"{v:.1f}"
    if kind == "ratio":
        return f"{v:.2f}×"
    if kind == "ratio3":
        return f"{v:.3f}×"
    if kind == "int":
        return f"{v:,.0f}"
    return str(v)


def cell(stat, kind, spread=True):
    if not stat:
        return "–"
    m = fmt_num(stat["median"], kind)
    if spread and len([v for v in stat.get("values", []) if v is not None]) > 1:
        return f"{m} ({fmt_num(stat['min'], kind)} – {fmt_num(stat['max'], kind)})"
    return m


def error_kinds(recs):
    kinds = {}
    for r in recs:
        for k, v in (r.get("error_kinds") or {}).items():
            kinds[k] = kinds.get(k, 0) + v
    return ", ".join(f"{k}: {v:,}" for k, v in sorted(kinds.items()) if v)


COLUMNS = {
    "1_peak_throughput": [("throughput (rps)", "throughput_rps", "rps"), ("p50 (µs)", "p50_us", "us"),
                          ("p99 (µs)", "p99_us", "us"), ("p99.9 (µs)", "p999_us", "us"),
                          ("server CPU per request (µs)", "cpu_us_per_request", "us1"),
                          ("errors", "errors", "int")],
    "10_replicas_peak": [("throughput (rps)", "throughput_rps", "rps"), ("p50 (µs)", "p50_us", "us"),
                         ("p99 (µs)", "p99_us", "us"), ("p99.9 (µs)", "p999_us", "us"),
                         ("errors", "errors", "int")],
    "10_replicas_latency": [("offered (rps)", "offered_rps", "rps"), ("achieved (rps)", "throughput_rps", "rps"),
                            ("p50 (µs)", "p50_us", "us"), ("p99 (µs)", "p99_us", "us"),
                            ("added p50 (µs)", "added_p50_us", "signed_us"),
                            ("added p99 (µs)", "added_p99_us", "signed_us"), ("errors", "errors", "int")],
    "2_latency_at_half_peak": [("offered (rps)", "offered_rps", "rps"), ("achieved (rps)", "throughput_rps", "rps"), ("p50 (µs)", "p50_us", "us"),
                               ("p99 (µs)", "p99_us", "us"), ("p99.9 (µs)", "p999_us", "us"),
                               ("added p50 (µs)", "added_p50_us", "signed_us"),
                               ("added p99 (µs)", "added_p99_us", "signed_us"),
                               ("added p99.9 (µs)", "added_p999_us", "signed_us"),
                               ("errors", "errors", "int")],
    "3_sequential_overhead": [("overhead, median (µs)", "overhead_p50_us", "signed_us"),
                              ("overhead, p90 (µs)", "overhead_p90_us", "signed_us"),
                              ("overhead, p99 (µs)", "overhead_p99_us", "signed_us"),
                              ("gateway p50 (µs)", "gateway_p50_us", "us"),
                              ("direct p50 (µs)", "direct_p50_us", "us"),
                              ("pairs", "pairs", "int"), ("errors", "errors", "int")],
    "4_streaming": [("TTFT p50 (µs)", "ttft_p50_us", "us"), ("TTFT p99 (µs)", "ttft_p99_us", "us"),
                    ("gap p50 (µs)", "gap_p50_us", "us"), ("gap p99 (µs)", "gap_p99_us", "us"),
                    ("added TTFT p50 (µs)", "added_ttft_p50_us", "signed_us"),
                    ("added gap p50 (µs)", "added_gap_p50_us", "signed_us"),
                    ("added gap p99 (µs)", "added_gap_p99_us", "signed_us"),
                    ("streams", "streams", "int"), ("errors", "errors", "int")],
    "5_concurrent_streams": [("streams completed", "streams_ok", "int"), ("errors", "errors", "int"),
                             ("most active at once (mock)", "max_active_streams", "int"),
                             ("peak RSS (MB)", "peak_rss_mb", "mb")],
    "6_large_bodies": [("throughput (rps)", "throughput_rps", "rps"), ("p50 (µs)", "p50_us", "us"),
                       ("p99 (µs)", "p99_us", "us"), ("errors", "errors", "int")],
    "7_idle_rss": [("idle RSS (MB)", "idle_rss_mb", "mb")],
    "9_hedging": [("TTFT p50 (µs)", "ttft_p50_us", "us"), ("TTFT p90 (µs)", "ttft_p90_us", "us"),
                  ("TTFT p99 (µs)", "ttft_p99_us", "us"), ("TTFT p99.9 (µs)", "ttft_p999_us", "us"),
                  ("TTFT max (µs)", "ttft_max_us", "us"), ("stream p99 (µs)", "latency_p99_us", "us"),
                  ("hedges sent", "hedges_sent", "int"), ("won", "hedges_won", "int"),
                  ("lost", "hedges_lost", "int"), ("slow mock: requests", "slow_requests", "int"),
                  ("slow mock: aborted", "slow_aborted", "int"), ("healthy mock: requests", "healthy_requests", "int"),
                  ("streams", "streams", "int"), ("errors", "errors", "int")],
}


def describe_params(key, p):
    if not p:
        return ""
    if key == "1_peak_throughput":
        return f"closed loop, {p.get('connections')} connections, {p.get('duration_s')} s after {p.get('warmup_s')} s warm-up, small JSON"
    if key == "2_latency_at_half_peak":
        return (f"open loop at {p.get('rate'):,} rps ({p.get('rate_source')}), up to {p.get('max_connections')} "
                f"connections, {p.get('duration_s')} s after {p.get('warmup_s')} s warm-up; latency from each "
                "request's scheduled send time; added = target minus direct in the same repeat")
    if key == "3_sequential_overhead":
        return (f"{p.get('pairs'):,} pairs of requests sent one at a time, alternating direct and through the gateway; "
                "overhead = gateway minus direct per pair, then the median over pairs")
    if key == "4_streaming":
        return (f"closed loop, {p.get('connections')} connections, streams of {p.get('chunks')} chunks "
                f"{p.get('chunk_delay_ms')} ms apart (mock flags), {p.get('duration_s')} s; added = target minus "
                "direct in the same repeat")
    if key == "5_concurrent_streams":
        s = (f"{p.get('connections'):,} connections each holding a stream of {p.get('chunks')} chunks "
             f"{p.get('chunk_delay_ms')} ms apart (~{p.get('stream_seconds')} s), {p.get('duration_s')} s after "
             f"{p.get('warmup_s')} s warm-up; a fresh gateway process per repeat, peak RSS = VmHWM (nginx: "
             "master plus workers)")
        if p.get("streams_requested") and p.get("streams_requested") != p.get("connections"):
            s += f"; **asked for {p['streams_requested']:,} streams, ran {p['connections']:,}** (descriptor limit {p.get('fd_limit')})"
        return s
    if key == "6_large_bodies":
        return f"closed loop, {p.get('connections')} connections, {p.get('body_bytes'):,}-byte request bodies, {p.get('duration_s')} s"
    if key == "7_idle_rss":
        return f"VmRSS {p.get('settle_s')} s after start, no traffic; nginx counts master plus workers"
    if key == "8_translated_streaming":
        return (f"Switchyard only. Streams of {p.get('chunks')} chunks {p.get('chunk_delay_ms')} ms apart (mock flags) "
                f"through four paths, client → upstream: closed loop, {p.get('connections')} connections, "
                f"{p.get('duration_s')} s after {p.get('warmup_s')} s warm-up per path; then "
                f"{p.get('sequential_pairs'):,} sequential pairs per path (direct, then through Switchyard, one stream "
                "at a time). Each path's baseline is the mock's own endpoint in the client's protocol. Time to first "
                "token: OpenAI clients, the first event (the role chunk, as in scenario 4); Anthropic clients, the "
                "first content_block_delta carrying a text_delta. Gaps: OpenAI, between consecutive events; "
                "Anthropic, between consecutive text deltas. Added = path minus its baseline in the same repeat; "
                "per-request added time = the median over pairs of whole-stream time through Switchyard minus "
                "direct. A translated path's upstream speaks the other protocol, whose mock endpoint may be quicker "
                "or slower than the baseline's (compare the two baselines): under load its added TTFT can even be "
                "negative, which is why the verdict rests on the sequential pairs")
    if key == "10_replicas_peak":
        return (f"Switchyard only, governance on in both configurations (a team and a key, each with a budget and "
                f"rpm/tpm/parallel limits too large to refuse anything; every request a ledger row): one Switchyard "
                f"with its SQLite store and {p.get('single_workers')} workers, against {p.get('replicas')} replicas "
                f"of {p.get('replica_workers')} worker(s) sharing a PostgreSQL and a Redis on this machine, behind "
                f"nginx running deploy/compose/nginx-replicas.conf; every replica's governed request makes one Redis "
                f"round trip at admission. Closed loop, {p.get('connections')} connections, {p.get('duration_s')} s "
                f"after a {p.get('warmup_s')} s warm-up; everything shares the same cores")
    if key == "10_replicas_latency":
        return (f"The same two configurations, open loop at {p.get('rate'):,} rps, up to {p.get('max_connections')} "
                f"connections, {p.get('duration_s')} s after {p.get('warmup_s')} s warm-up; added = target minus "
                "direct in the same repeat")
    if key == "9_hedging":
        h = p.get("hedge") or {}
        # Runs before the upstreams became OpenAI-format did not record them: they were Anthropic.
        upstreams = ("OpenAI-format upstreams (translated: the Anthropic pass-through stream does not hedge, see "
                     "RESULTS.md)" if p.get("upstream") == "openai_compatible"
                     else "Anthropic upstreams (pass-through)")
        return (f"Switchyard only. A model group, strategy {p.get('strategy')}, over two mocks: the first with the "
                f"instance plan `{json.dumps(p.get('slow_plan'), separators=(',', ':'))}`, the second healthy; streams "
                f"of {p.get('chunks')} chunks {p.get('chunk_delay_ms')} ms apart, Anthropic clients, {upstreams}; open "
                f"loop at {p.get('rate')} rps for {p.get('duration_s')} s after a {p.get('warmup_s')} s warm-up run "
                f"(not recorded); a fresh gateway per configuration and repeat, the same config but for `hedge: "
                f"{{after_ms: {h.get('after_ms')}, max_fraction: {h.get('max_fraction')}}}`. Time to first token = "
                "due time to the first text delta; hedge counts from `switchyard_hedges_total`, mock counts from "
                "`/mock/stats`, both over the measured run only. The load generator reports p50/p90/p99/p99.9 (no "
                "p95)")
    return ""


def render_xlate(s, L):
    """Scenario 8's tables: baselines, the four paths, then translated/pass-through ratios."""
    med = s.get("median", {})
    L.append("| baseline (direct) | TTFT p50 (µs) | TTFT p99 (µs) | gap p50 (µs) | gap p99 (µs) | streams | errors |")
    L.append("|---|---|---|---|---|---|---|")
    for client in ("openai", "anthropic"):
        m = med.get(f"direct_{client}")
        if m is None:
            continue
        L.append(f"| mock, {PROTOCOL_LABEL[client]} endpoint | " + " | ".join(
            cell(m.get(k), kind) for k, kind in (("ttft_p50_us", "us"), ("ttft_p99_us", "us"), ("gap_p50_us", "us"),
                                                 ("gap_p99_us", "us"), ("streams", "int"), ("errors", "int"))) + " |")
    L.append("")
    L.append("| path (client → upstream) | kind | TTFT p50 (µs) | gap p99 (µs) | added TTFT p50 (µs) | "
             "added gap p99 (µs) | per-request added, median of pairs (µs) | pairs | errors (streams + pairs) |")
    L.append("|---|---|---|---|---|---|---|---|---|")
    for path in XLATE_PATHS:
        m = med.get(path)
        if m is None:
            continue
        client, upstream = xlate_split(path)
        kind = "pass-through" if client == upstream else "**translated**"
        errs = [(m.get(k) or {}).get("max") for k in ("errors", "seq_errors")]
        err = "–" if all(e is None for e in errs) else fmt_num(sum(e or 0 for e in errs), "int")
        L.append(f"| {PROTOCOL_LABEL[client]} → {PROTOCOL_LABEL[upstream]} | {kind} | "
                 + " | ".join(cell(m.get(k), kd) for k, kd in (
                     ("ttft_p50_us", "us"), ("gap_p99_us", "us"), ("added_ttft_p50_us", "signed_us"),
                     ("added_gap_p99_us", "signed_us"), ("seq_overhead_p50_us", "signed_us"), ("seq_pairs", "int")))
                 + f" | {err} |")
    L.append("")
    L.append("Errors counts the worst repeat of each measurement.")
    xo = s.get("translation_overhead") or {}
    if xo:
        L.append("")
        L.append("Translation overhead: each translated path over the pass-through path of the same client protocol "
                 "(same baseline, same timing rules), per repeat, then the median; target ≤ 2×, judged on the "
                 "sequential per-request added time.")
        L.append("")
        L.append("| client | translated / pass-through | ratio of added TTFT p50 | ratio of per-request added time "
                 "| translated minus pass-through, per request (µs) | ≤ 2× |")
        L.append("|---|---|---|---|---|---|")
        for client in ("anthropic", "openai"):
            e = xo.get(client)
            if not e:
                continue
            r = (e.get("per_request_ratio") or {}).get("median")
            verdict = "–" if r is None else ("met" if r <= 2.0 else "**not met**")
            notes = []
            for short, label in (("ttft", "TTFT"), ("per_request", "per-request")):
                n = e.get(f"{short}_ratio_undefined_repeats") or 0
                if n:
                    notes.append(f"{label}: {n} repeat(s) without a ratio (pass-through overhead ≤ 0)")
            L.append(f"| {PROTOCOL_LABEL[client]} | {e['translated']} / {e['pass_through']} | "
                     f"{cell(e.get('ttft_ratio'), 'ratio')} | {cell(e.get('per_request_ratio'), 'ratio')} | "
                     f"{cell(e.get('per_request_extra_us'), 'signed_us')} | {verdict}"
                     + (f" ({'; '.join(notes)})" if notes else "") + " |")
    kinds = [(t, error_kinds(s.get(t, []))) for t in ["direct_openai", "direct_anthropic"] + XLATE_PATHS
             + [f"seq_{p}" for p in XLATE_PATHS]]
    kinds = [(t, k) for t, k in kinds if k]
    if kinds:
        L.append("")
        L.append("Error kinds: " + "; ".join(f"{t}: {k}" for t, k in kinds) + ".")
    for f in s.get("failures", []):
        L.append("")
        L.append(f"**FAILED measurement**: {f}")
    L.append("")


def render_md(doc, plots):
    L = []
    L.append(f"# Switchyard benchmark: {doc['date']}" + (" (smoke)" if doc["mode"] == "smoke" else ""))
    L.append("")
    if doc["mode"] == "smoke":
        L.append("> **SMOKE RUN**: about 1 s per measurement, 1 repeat, few streams. It proves the harness "
                 "works; its figures are not for quoting.")
        L.append("")
    if doc.get("governance") == "on":
        L.append("> **Governance on** (`--governance`): Switchyard authenticates a virtual key, admits every "
                 "request against a team's and the key's budgets and limits (too large to refuse anything) "
                 "and writes it to the SQLite ledger.")
        L.append("")
    for peer, reason in sorted(doc.get("skipped", {}).items()):
        if peer.startswith("scenario_"):
            L.append(f"> **WARNING ({peer.replace('_', ' ')})**: {reason}")
        else:
            L.append(f"> **SKIPPED: {peer}** — {reason}")
        L.append("")
    req = [p for p in doc.get("peers_requested", []) if p]
    not_req = [p for p in TARGETS if p not in req and p != "direct"]
    if not_req:
        L.append(f"> Peers not requested in this run (`--peers`): {', '.join(not_req)}.")
        L.append("")
    m, v = doc.get("machine", {}), doc.get("versions", {})
    L.append(f"Run {doc.get('started')} to {doc.get('finished')}, {doc['mode']} mode, "
             f"{doc['repeats']} repeat(s) of every figure; cells show the median and, with more than one "
             "repeat, (min – max). Ratios and differences are taken pair by pair within a repeat, then summarized.")
    L.append("")
    L.append("| machine | |")
    L.append("|---|---|")
    for k in ("cpu_model", "cores", "memory_total", "kernel", "os", "fd_limit", "cpu_placement"):
        if k in m:
            L.append(f"| {k.replace('_', ' ')} | {m[k]} |")
    L.append(f"| load generator | switchyard-load, {doc.get('load_generator', {}).get('threads', 1)} thread |")
    L.append("")
    L.append("| version | |")
    L.append("|---|---|")
    for k in ("switchyard", "git_commit", "nginx", "node", "portkey", "gnuplot", "python3"):
        if k in v:
            L.append(f"| {k.replace('_', ' ')} | {v[k]} |")
    L.append("")
    L.append("## Targets")
    L.append("")
    L.append("| goal | measured (Switchyard) | met |")
    L.append("|---|---|---|")
    for name, t in doc.get("targets", {}).items():
        met = {True: "met", False: "**not met**", None: "not measured"}[t.get("met")]
        note = f" ({t['note']})" if t.get("note") else ""
        L.append(f"| {t['goal']} | {t['measured']}{note} | {met} |")
    L.append("")
    for key, title in SCENARIOS:
        s = doc["scenarios"].get(key)
        L.append(f"## {title}")
        L.append("")
        if s is None:
            L.append("Not run.")
            L.append("")
            continue
        d = describe_params(key, s.get("params"))
        if d:
            L.append(d + ".")
            L.append("")
        if key == "8_translated_streaming":
            render_xlate(s, L)
            continue
        cols = COLUMNS[key]
        L.append("| target | " + " | ".join(c[0] for c in cols) + " |")
        L.append("|---|" + "---|" * len(cols))
        present = order_targets(s.get("median", {}).keys())
        if key == "9_hedging":
            present = [c for c in HEDGE_CONFIGS if c in s.get("median", {})]
        for target in present:
            if key == "3_sequential_overhead" and target == "direct":
                continue
            med = s["median"].get(target, {})
            row = [cell(med.get(c[1]), c[2]) for c in cols]
            L.append(f"| {target_label(target)} | " + " | ".join(row) + " |")
        own = (s.get("params") or {}).get("own_rates") or {}
        for t, r in sorted(own.items()):
            L.append("")
            L.append(f"**{t} ran at {r:,} rps, 50% of its own peak**: its scenario-1 peak is below 1.2× the "
                     f"common rate, so it cannot keep up with it. Its added latency is over a direct run at "
                     f"{r:,} rps in the same repeat.")
        kinds = [(target_label(t), error_kinds(s.get(t, []))) for t in present]
        kinds = [(t, k) for t, k in kinds if k]
        if kinds:
            L.append("")
            L.append("Error kinds: " + "; ".join(f"{t}: {k}" for t, k in kinds) + ".")
        if s.get("ratios"):
            L.append("")
            L.append("| ratio (per repeat, then median) | value |")
            L.append("|---|---|")
            for name, st in s["ratios"].items():
                # Governance's cost is a few percent: three decimals show it.
                L.append(f"| {name} | {cell(st, 'ratio3' if name.startswith('governed/') else 'ratio')} |")
        diffs = s.get("hedge_minus_no_hedge") or {}
        if diffs:
            L.append("")
            L.append("| hedge minus no hedge (per repeat, then median) | value (µs) |")
            L.append("|---|---|")
            for k, label in (("ttft_p50_us", "TTFT p50"), ("ttft_p90_us", "TTFT p90"), ("ttft_p99_us", "TTFT p99"),
                             ("ttft_p999_us", "TTFT p99.9"), ("latency_p99_us", "whole stream p99")):
                if k in diffs:
                    L.append(f"| {label} | {cell(diffs[k], 'signed_us')} |")
        for f in s.get("failures", []):
            L.append("")
            L.append(f"**FAILED measurement**: {f}")
        L.append("")
    L.append("## Plots")
    L.append("")
    if plots.get("note"):
        L.append(plots["note"])
    for label, path in plots.get("files", []):
        L.append(f"![{label}]({os.path.basename(path)})")
        L.append("")
    L.append("")
    L.append("## Configs")
    L.append("")
    for name, text in sorted(doc.get("configs", {}).items()):
        L.append(f"`{name}`")
        L.append("")
        L.append("```")
        L.append(text)
        L.append("```")
        L.append("")
    return "\n".join(L).rstrip() + "\n"


def gnuplot_terminal(gp):
    for term in ("pngcairo", "png"):
        r = subprocess.run([gp, "-e", f"set terminal {term}"], capture_output=True, text=True)
        if r.returncode == 0 and not r.stderr.strip():
            return term
    return None


def make_plots(doc, stem):
    gp = shutil.which("gnuplot")
    if not gp:
        return {"note": "Plots skipped: gnuplot is not installed (bench/install-bench-deps.sh installs gnuplot-nox).",
                "files": []}
    term = gnuplot_terminal(gp)
    if not term:
        return {"note": "Plots skipped: this gnuplot has neither the pngcairo nor the png terminal.", "files": []}
    files, notes = [], []
    tmp = tempfile.mkdtemp(prefix="switchyard-plots.")
    try:
        s1 = doc["scenarios"].get("1_peak_throughput")
        if s1:
            rows = []
            for t in TARGETS:
                st = s1.get("median", {}).get(t, {}).get("throughput_rps")
                if st:
                    rows.append(f"{t} {st['median']} {st['min']} {st['max']}")
            if rows:
                dat = os.path.join(tmp, "throughput.dat")
                with open(dat, "w") as f:
                    f.write("\n".join(rows) + "\n")
                png = f"{stem}-throughput.png"
                script = f"""
set terminal {term} size 900,540
set output '{png}'
set title "Scenario 1: peak throughput, {s1['params'].get('connections')} connections, closed loop (median, min-max)"
set ylabel 'requests per second'
set yrange [0:*]
set grid ytics
set style data histogram
set style histogram errorbars gap 2 lw 1
set style fill solid 0.6 border -1
set boxwidth 0.8
plot '{dat}' using 2:3:4:xtic(1) title 'throughput' lc rgb '#3366aa'
"""
                if run_gnuplot(gp, script, png, notes):
                    files.append(("throughput", png))
        s2 = doc["scenarios"].get("2_latency_at_half_peak")
        if s2:
            rows = []
            for t in TARGETS:
                med = s2.get("median", {}).get(t, {})
                vals = [med.get(k, {}).get("median") for k in ("p50_us", "p99_us", "p999_us")]
                own = (s2.get("params") or {}).get("own_rates") or {}
                name = f'"{t} ({own[t]} rps)"' if t in own else t
                if all(v is not None and v > 0 for v in vals):
                    rows.append(f"{name} " + " ".join(str(v) for v in vals))
            if rows:
                dat = os.path.join(tmp, "latency.dat")
                with open(dat, "w") as f:
                    f.write("\n".join(rows) + "\n")
                png = f"{stem}-latency.png"
                rate = s2["params"].get("rate")
                script = f"""
set terminal {term} size 900,540
set output '{png}'
set title "Scenario 2: latency at {rate} rps, open loop (median of repeats)"
set ylabel 'latency (µs, log scale)'
set logscale y
set format y '%.0f'
set yrange [1:*]
set grid ytics
set style data histogram
set style histogram clustered gap 2
set style fill solid 0.7 border -1
set key top left
plot '{dat}' using 2:xtic(1) title 'p50', '' using 3 title 'p99', '' using 4 title 'p99.9'
"""
                if run_gnuplot(gp, script, png, notes):
                    files.append(("latency percentiles", png))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"note": " ".join(notes), "files": files}


def run_gnuplot(gp, script, png, notes):
    r = subprocess.run([gp], input=script, capture_output=True, text=True)
    if r.returncode != 0 or not os.path.exists(png):
        notes.append(f"Plot {os.path.basename(png)} failed: {r.stderr.strip()[-300:]}")
        return False
    return True


def cmd_render(json_path):
    with open(json_path) as f:
        doc = json.load(f)
    stem = os.path.splitext(json_path)[0]
    plots = make_plots(doc, stem)
    md = render_md(doc, plots)
    with open(stem + ".md", "w") as f:
        f.write(md)


# --------------------------------------------------------------------------------------------
# progress, half-peak, watch-streams

def cmd_progress(scratch, scenario):
    s = assemble_scenario(scratch, scenario)
    if scenario == "10_replicas_peak":  # bench/run reports both of scenario 10's measurements
        peak = progress_line(s)
        latency = progress_line(assemble_scenario(scratch, "10_replicas_latency"), "2_latency_at_half_peak")
        print(f"peak: {peak}; latency: {latency}")
        return
    print(progress_line(s, scenario))


def progress_line(s, scenario="1_peak_throughput"):
    if s is None:
        return "no results"
    med = s["median"]

    def m(t, k):
        return (med.get(t, {}).get(k) or {}).get("median")

    parts = []
    if scenario == "8_translated_streaming":
        for client in ("openai", "anthropic"):
            if f"direct_{client}" in med:
                parts.append(f"direct {client} TTFT p50 {fmt_num(m(f'direct_{client}', 'ttft_p50_us'), 'us')} µs")
        for p in XLATE_PATHS:
            if p in med:
                parts.append(f"{p} TTFT {fmt_num(m(p, 'added_ttft_p50_us'), 'signed_us')} µs, "
                             f"gap p99 {fmt_num(m(p, 'added_gap_p99_us'), 'signed_us')} µs, "
                             f"per request {fmt_num(m(p, 'seq_overhead_p50_us'), 'signed_us')} µs")
    for t in TARGETS:
        if t not in med:
            continue
        if scenario in ("1_peak_throughput", "6_large_bodies"):
            v = m(t, "throughput_rps")
            parts.append(f"{t} {fmt_num(v, 'rps')} rps")
        elif scenario == "2_latency_at_half_peak":
            v = m(t, "p99_us") if t == "direct" else m(t, "added_p99_us")
            parts.append(f"{t} p99 {fmt_num(v, 'us' if t == 'direct' else 'signed_us')} µs")
        elif scenario == "3_sequential_overhead":
            parts.append(f"{t} {fmt_num(m(t, 'overhead_p50_us'), 'signed_us')} µs median")
        elif scenario == "4_streaming":
            if t == "direct":
                parts.append(f"direct TTFT p50 {fmt_num(m(t, 'ttft_p50_us'), 'us')} µs")
            else:
                parts.append(f"{t} TTFT {fmt_num(m(t, 'added_ttft_p50_us'), 'signed_us')} µs, "
                             f"gap p99 {fmt_num(m(t, 'added_gap_p99_us'), 'signed_us')} µs")
        elif scenario == "5_concurrent_streams":
            e = (med.get(t, {}).get("errors") or {}).get("max")
            parts.append(f"{t} {fmt_num(e, 'int')} errors, {fmt_num(m(t, 'peak_rss_mb'), 'mb')} MB peak")
        elif scenario == "7_idle_rss":
            parts.append(f"{t} {fmt_num(m(t, 'idle_rss_mb'), 'mb')} MB")
    if scenario == "9_hedging":
        for c in HEDGE_CONFIGS:
            if c in med:
                parts.append(f"{c} TTFT p50 {fmt_num(m(c, 'ttft_p50_us'), 'us')} µs, "
                             f"p99 {fmt_num(m(c, 'ttft_p99_us'), 'us')} µs, hedges {fmt_num(m(c, 'hedges_sent'), 'int')}")
    line = ", ".join(parts) if parts else "no figures"
    if s.get("failures"):
        line += f"; {len(s['failures'])} FAILED measurement(s)"
    return line


def cmd_half_peak(scratch):
    runs = load_runs(scratch, "1_peak_throughput")
    for t in ("switchyard", "direct"):
        vals = [r.get("throughput_rps") for r in runs.get(t, []) if not r.get("failed")]
        vals = [v for v in vals if isinstance(v, (int, float)) and v > 0]
        if vals:
            print(max(1, int(round(statistics.median(vals) / 2))))
            return
    sys.exit(1)


def cmd_slow_peers(scratch, rate):
    """Gateways whose median peak in scenario 1 is below 1.2x RATE, with 50% of their own peak."""
    rate = float(rate)
    runs = load_runs(scratch, "1_peak_throughput")
    for t in GATEWAYS:
        vals = [r.get("throughput_rps") for r in runs.get(t, []) if not r.get("failed")]
        vals = [v for v in vals if isinstance(v, (int, float)) and v > 0]
        if vals and statistics.median(vals) < 1.2 * rate:
            print(t, max(1, int(round(statistics.median(vals) / 2))))


def cmd_watch_streams(port, path):
    most = None
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    url = f"http://127.0.0.1:{int(port)}/mock/stats"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
    while True:
        try:
            with opener.open(url, timeout=2) as r:
                n = json.load(r).get("active_streams")
            if isinstance(n, int) and (most is None or n > most):
                most = n
                with open(path + ".tmp", "w") as f:
                    f.write(f"{most}\n")
                os.replace(path + ".tmp", path)
        except (OSError, ValueError):
            pass
        time.sleep(0.2)


def _get(url, data=None, method=None):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
    req = urllib.request.Request(url, data=data, method=method)
    with opener.open(req, timeout=5) as r:
        return r.read().decode("utf-8", "replace")


METRIC_LINE = re.compile(r'^(switchyard_[a-z_]+)\{([^}]*)\}\s+([0-9.eE+-]+)$')


def gateway_counters(port):
    """Sums of the gateway's hedge counters by result and of its attempts by provider."""
    out = {"hedges_sent": 0, "hedges_won": 0, "hedges_lost": 0}
    for line in _get(f"http://127.0.0.1:{int(port)}/metrics").splitlines():
        m = METRIC_LINE.match(line.strip())
        if not m:
            continue
        name, labels, value = m.group(1), dict(re.findall(r'(\w+)="([^"]*)"', m.group(2))), float(m.group(3))
        if name == "switchyard_hedges_total" and labels.get("result") in ("sent", "won", "lost"):
            out["hedges_" + labels["result"]] += int(value)
        elif name == "switchyard_upstream_attempts_total" and "provider" in labels:
            key = f"attempts_{labels['provider']}"
            out[key] = out.get(key, 0) + int(value)
    return out


def cmd_hedge_counters(sy_port, slow_port, healthy_port, opts):
    counters = gateway_counters(sy_port)
    if len(opts) >= 2 and opts[0] == "--since":
        before = read_json(opts[1])
        for k, v in list(counters.items()):
            if isinstance(before.get(k), int):
                counters[k] = v - before[k]
    for name, port in (("slow", slow_port), ("healthy", healthy_port)):
        st = json.loads(_get(f"http://127.0.0.1:{int(port)}/mock/stats"))
        counters[f"{name}_requests"] = st.get("requests")
        counters[f"{name}_aborted"] = st.get("streams_aborted")
        if opts[:1] == ["--reset"]:
            _get(f"http://127.0.0.1:{int(port)}/mock/reset-stats", data=b"", method="POST")
    print(json.dumps(counters))


def main(argv):
    if len(argv) >= 3 and argv[0] == "assemble":
        cmd_assemble(argv[1], argv[2])
    elif len(argv) >= 2 and argv[0] == "render":
        cmd_render(argv[1])
    elif len(argv) >= 3 and argv[0] == "progress":
        cmd_progress(argv[1], argv[2])
    elif len(argv) >= 2 and argv[0] == "half-peak":
        cmd_half_peak(argv[1])
    elif len(argv) >= 3 and argv[0] == "slow-peers":
        cmd_slow_peers(argv[1], argv[2])
    elif len(argv) >= 3 and argv[0] == "watch-streams":
        cmd_watch_streams(argv[1], argv[2])
    elif len(argv) >= 4 and argv[0] == "hedge-counters":
        cmd_hedge_counters(argv[1], argv[2], argv[3], argv[4:])
    else:
        sys.stderr.write(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main(sys.argv[1:])
