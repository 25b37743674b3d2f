#!/usr/bin/env python3
"""The Grafana dashboard and the alert rules against a real Prometheus (issue 13).

Starts two mock upstreams (one healthy, one that answers every request 503), the gateway in
front of them (governance with a team budget, a model group whose first target fails, a model
that falls back, the OpenAI and Anthropic front doors), and a real Prometheus server scraping
the gateway every second with deploy/prometheus/alerts.yml loaded. Then it sends mixed
traffic (JSON and streams, refusals, upstream errors, in-band stream errors, through Chat
Completions, Responses and Messages), waits until Prometheus has scraped the counts that
traffic left, and runs every query of every panel of deploy/grafana/switchyard-dashboard.json
(and of its template variables) through Prometheus's HTTP API: any error, or a result with no
sample that is a number, fails the test, naming the panel and the query. It also checks that
the alert rules evaluate without error on the real series, that the alerts this traffic must
trigger are pending, and that `promtool check metrics` finds nothing to say about a scrape.

Everything listens on 127.0.0.1 with ports the kernel picks; every process is stopped at the
end; every wait is a poll with a deadline. Exit 77 (CTest's SKIP) when prometheus or promtool
is not installed: `scripts/install-deps.sh --test` installs Debian's `prometheus`.

usage: test_dashboard.py --switchyard BIN --mock BIN --source-dir DIR
"""
import argparse
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

SKIP = 77
MASTER_KEY = "master-key-for-the-dashboard-test"
UPSTREAM_KEY = "sk-upstream-dashboard-test"
# What the dashboard's Grafana variables stand for here: every value of the template variables
# (their "All", allValue ".*"), and windows wide enough to hold a scrape from before the
# traffic and one from after it.
SUBSTITUTIONS = {
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$__range": "1h",
    "${datasource}": "",
    "$model": ".*",
    "$provider": ".*",
    "$team": ".*",
}


class Failure(Exception):
    pass


def log(msg):
    print(msg, flush=True)


class Process:
    """A child process whose output is collected by a thread, so a line can be waited for."""

    def __init__(self, name, argv, cwd=None):
        self.name = name
        self.lines = []
        self.cond = threading.Condition()
        self.proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, errors="replace")
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def wait_for_line(self, pattern, timeout):
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = 0
        with self.cond:
            while True:
                for line in self.lines[seen:]:
                    m = regex.search(line)
                    if m:
                        return m
                seen = len(self.lines)
                if self.proc.poll() is not None and not self.reader.is_alive():
                    raise Failure(f"{self.name} exited ({self.proc.returncode}) before printing "
                                  f"/{pattern}/:\n" + self.output())
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Failure(f"{self.name} did not print /{pattern}/ within {timeout} s:\n"
                                  + self.output())
                self.cond.wait(min(left, 0.5))

    def output(self):
        with self.cond:
            return "\n".join(self.lines[-40:])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.reader.join(timeout=5)


def http(method, url, body=None, headers=None, timeout=30):
    """(status, headers, body text); an HTTP error status is an answer, not an exception."""
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None and "Content-Type" not in req.headers:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode("utf-8", "replace")


def poll(what, predicate, timeout, interval=0.2):
    """Calls predicate() until it returns something truthy; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except (OSError, ValueError, KeyError) as e:  # not up yet, or not there yet
            last = e
        if time.monotonic() > deadline:
            raise Failure(f"timed out after {timeout} s waiting for {what}"
                          + (f" (last error: {last})" if last else ""))
        time.sleep(interval)  # the interval between two polls, not a wait for an event


def metric_sum(exposition, name):
    """The sum of every sample of `name` (any labels) in a text exposition."""
    total = 0.0
    for line in exposition.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


class Prometheus:
    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"

    def query(self, expr):
        """The API's answer to an instant query, as JSON (status "success" or "error")."""
        url = self.base + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        status, _, body = http("GET", url)
        try:
            return json.loads(body)
        except ValueError:
            return {"status": "error", "error": f"HTTP {status}: {body[:200]}"}

    def value(self, expr):
        """The first sample of an instant query, or None."""
        answer = self.query(expr)
        result = answer.get("data", {}).get("result", [])
        if answer.get("status") != "success" or not result:
            return None
        return float(result[0]["value"][1])

    def get(self, path):
        status, _, body = http("GET", self.base + path)
        if status != 200:
            raise Failure(f"GET {path}: HTTP {status}: {body[:300]}")
        return json.loads(body)


def has_number(answer):
    """Whether a successful query answer holds at least one sample that is a number (a panel
    with only NaN, say a quantile of nothing, shows no data either)."""
    data = answer.get("data", {})
    kind, result = data.get("resultType"), data.get("result")
    if kind == "scalar":
        return not math.isnan(float(result[1]))
    if kind == "vector":
        return any(not math.isnan(float(s["value"][1])) for s in result)
    if kind == "matrix":
        return any(not math.isnan(float(v[1])) for s in result for v in s["values"])
    return False


def substitute(expr):
    for var, value in SUBSTITUTIONS.items():
        expr = expr.replace(var, value)
    expr = re.sub(r"\$\{(model|provider|team)(:[a-z]+)?\}", ".*", expr)
    if "$" in expr:
        raise Failure(f"a Grafana variable this test does not know is left in: {expr}")
    return expr


def panels_of(dashboard):
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])  # a collapsed row holds its panels


def check_dashboard_shape(dashboard):
    """What an importer and a reader rely on: the datasource variable, the template variables,
    and every panel's datasource, unit, legend and thresholds."""
    problems = []
    variables = {v["name"]: v for v in dashboard.get("templating", {}).get("list", [])}
    ds = variables.get("datasource")
    if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        problems.append("no template variable 'datasource' of type datasource/prometheus")
    for name in ("model", "provider", "team"):
        v = variables.get(name)
        if not v or v.get("type") != "query" or "label_values(" not in json.dumps(v.get("query")):
            problems.append(f"no template variable '{name}' fed by a label_values query")
    rows = [p["title"] for p in dashboard.get("panels", []) if p.get("type") == "row"]
    for want in ("Traffic", "Latency", "Errors", "Tokens", "Cost", "Process"):
        if not any(r.startswith(want) for r in rows):
            problems.append(f"no row named '{want}...' (rows: {rows})")
    ids = set()
    for panel in panels_of(dashboard):
        title = panel.get("title", "?")
        if panel.get("id") in ids:
            problems.append(f"panel '{title}': duplicate id {panel.get('id')}")
        ids.add(panel.get("id"))
        if panel.get("type") == "row":
            continue
        if panel.get("datasource", {}).get("uid") != "${datasource}":
            problems.append(f"panel '{title}': datasource is not ${{datasource}}")
        defaults = panel.get("fieldConfig", {}).get("defaults", {})
        if not defaults.get("unit"):
            problems.append(f"panel '{title}': no unit")
        if not defaults.get("thresholds", {}).get("steps"):
            problems.append(f"panel '{title}': no thresholds")
        if not panel.get("targets"):
            problems.append(f"panel '{title}': no query")
        for t in panel.get("targets", []):
            if t.get("datasource", {}).get("uid") != "${datasource}":
                problems.append(f"panel '{title}' query {t.get('refId')}: datasource is not "
                                "${datasource}")
            if panel.get("type") == "timeseries" and not t.get("legendFormat"):
                problems.append(f"panel '{title}' query {t.get('refId')}: no legendFormat")
    return problems


def write_gateway_config(path, ok_port, bad_port, workdir):
    price = "{input_per_mtok: 1, output_per_mtok: 2, cached_input_per_mtok: 0.5}"
    with open(path, "w") as f:
        f.write(f"""listen: 127.0.0.1:0
workers: 2
access_log: {workdir}/access.log
routing:
  retry: {{attempts: 2, backoff_ms: 1, max_backoff_ms: 2}}
  # One failure cools a target down, for longer than the test runs.
  cooldown: {{failures: 1, window_s: 60, duration_s: 600}}
providers:
  - {{name: openai-mock, type: openai, base_url: "http://127.0.0.1:{ok_port}/v1", api_key: {UPSTREAM_KEY}}}
  - {{name: anthropic-mock, type: anthropic, base_url: "http://127.0.0.1:{ok_port}", api_key: {UPSTREAM_KEY}}}
  - {{name: flaky, type: openai, base_url: "http://127.0.0.1:{bad_port}/v1", api_key: {UPSTREAM_KEY}}}
models:
  - {{name: gpt-test, provider: openai-mock, price: {price}}}
  - {{name: claude-test, provider: anthropic-mock, model: claude-sonnet-4-5, price: {price}}}
  # A group whose first target fails: a retry on the second, and the first cools down.
  - name: balanced
    strategy: ordered
    targets:
      - {{provider: flaky, model: gpt-x, price: {price}}}
      - {{provider: openai-mock, model: gpt-x, price: {price}}}
  # A model on the failing provider alone, falling back to gpt-test.
  - {{name: shaky, provider: flaky, price: {price}, fallbacks: [gpt-test]}}
routers:
  - name: auto
    rules:
      - {{when: {{protocol: anthropic_messages}}, model: claude-test}}
      - {{model: gpt-test}}
governance:
  master_key: {MASTER_KEY}
  database: {workdir}/switchyard.db
  ledger: {{commit_interval_ms: 100}}
""")


def write_prometheus_config(path, gateway_port, alerts):
    with open(path, "w") as f:
        f.write(f"""global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - {alerts}
scrape_configs:
  - job_name: switchyard
    static_configs:
      - targets: ["127.0.0.1:{gateway_port}"]
""")


def user_text(text, mock=None):
    return text + ("\n#mock " + json.dumps(mock) if mock else "")


def send_traffic(gw, key):
    """Mixed traffic through each front door; returns how many model requests it sent."""
    auth = {"Authorization": f"Bearer {key}"}
    anthropic = {"x-api-key": key, "anthropic-version": "2023-06-01"}
    cached = {"usage": {"prompt_tokens": 50, "cached_tokens": 20, "reasoning_tokens": 2,
                        "completion_tokens": 6}}
    sent = 0
    expected = []

    def chat(model, text, stream=False, headers=None, mock=None):
        body = {"model": model, "max_tokens": 50, "stream": stream,
                "messages": [{"role": "user", "content": user_text(text, mock)}]}
        return http("POST", gw + "/v1/chat/completions", body, {**auth, **(headers or {})})

    def messages(model, text, stream=False, mock=None):
        body = {"model": model, "max_tokens": 50, "stream": stream,
                "messages": [{"role": "user", "content": user_text(text, mock)}]}
        return http("POST", gw + "/v1/messages", body, anthropic)

    def responses(model, text, stream=False, mock=None):
        body = {"model": model, "max_output_tokens": 50, "stream": stream,
                "input": user_text(text, mock)}
        return http("POST", gw + "/v1/responses", body, auth)

    def expect(what, answer, status, needle=None):
        nonlocal sent
        sent += 1
        got = answer[0]
        if got != status or (needle and needle not in answer[2]):
            expected.append(f"{what}: expected {status}{' with ' + needle if needle else ''}, "
                            f"got {got}: {answer[2][:300]}")

    # The group first: its first target fails (503, a retry to the second, a cooldown).
    expect("chat balanced", chat("balanced", "hi"), 200)
    # The failing provider alone: the fallback serves; with fallbacks off, the client gets 503.
    expect("chat shaky (fallback)", chat("shaky", "hi"), 200)
    for _ in range(3):
        expect("chat shaky, fallbacks off",
               chat("shaky", "hi", headers={"x-switchyard-fallbacks": "off"}), 503)
    for i in range(4):
        expect("chat", chat("gpt-test", f"hello {i}", mock=cached), 200)
        expect("chat stream", chat("gpt-test", f"stream {i}", stream=True, mock=cached), 200,
               "[DONE]")
        expect("messages", messages("claude-test", f"hello {i}", mock=cached), 200)
        expect("messages stream", messages("claude-test", f"stream {i}", stream=True, mock=cached),
               200, "message_stop")
        expect("responses", responses("gpt-test", f"hello {i}"), 200)
        expect("responses stream", responses("gpt-test", f"stream {i}", stream=True), 200,
               "response.completed")
    # A rule-based router, from two front doors.
    expect("chat auto", chat("auto", "routed"), 200)
    expect("messages auto", messages("auto", "routed"), 200)
    # 95% of the team's $1 budget in one request (950,000 prompt tokens at $1 a million): the
    # budget alert must go pending.
    expect("chat, a large bill", chat("gpt-test", "big", mock={"usage": {"prompt_tokens": 950000}}),
           200)
    # Errors: an unknown model, an upstream 529 on Messages (retried, then passed back), an
    # in-band error in a stream, a key the gateway did not make.
    expect("chat unknown model", chat("no-such-model", "hi"), 404)
    expect("messages 529", messages("claude-test", "overloaded",
                                    mock={"fault": "status", "status": 529}), 529)
    expect("chat stream error", chat("gpt-test", "cut", stream=True,
                                     mock={"fault": "stream_error", "cut_after": 2}), 200)
    expect("responses stream error", responses("gpt-test", "cut", stream=True,
                                               mock={"fault": "stream_error", "cut_after": 1}), 200,
           "response.failed")
    status = http("POST", gw + "/v1/chat/completions",
                  {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]},
                  {"Authorization": "Bearer sk-sy-not-a-key"})
    expect("chat with a bad key", status, 401)
    if expected:
        raise Failure("the traffic did not get the answers the test is built on:\n  "
                      + "\n  ".join(expected))
    return sent


def run(args, workdir, processes):
    source = os.path.abspath(args.source_dir)
    dashboard_path = os.path.join(source, "deploy/grafana/switchyard-dashboard.json")
    alerts_path = os.path.join(source, "deploy/prometheus/alerts.yml")
    with open(dashboard_path) as f:
        dashboard = json.load(f)
    problems = check_dashboard_shape(dashboard)
    if problems:
        raise Failure("the dashboard JSON:\n  " + "\n  ".join(problems))

    ok = Process("mock upstream", [args.mock, "--listen", "127.0.0.1:0"])
    processes.append(ok)
    ok_port = int(ok.wait_for_line(r"listening on \S*:(\d+)$", 20).group(1))
    bad = Process("failing mock upstream", [args.mock, "--listen", "127.0.0.1:0", "--plan",
                                            json.dumps({"fault": "status", "status": 503})])
    processes.append(bad)
    bad_port = int(bad.wait_for_line(r"listening on \S*:(\d+)$", 20).group(1))

    config = os.path.join(workdir, "switchyard.yaml")
    write_gateway_config(config, ok_port, bad_port, workdir)
    gateway = Process("switchyard", [args.switchyard, "--config", config], cwd=workdir)
    processes.append(gateway)
    gw_port = int(gateway.wait_for_line(r"listening on \S*:(\d+)$", 20).group(1))
    gw = f"http://127.0.0.1:{gw_port}"

    admin = {"Authorization": f"Bearer {MASTER_KEY}"}
    status, _, body = http("POST", gw + "/admin/teams", {
        "name": "search", "budget": {"max_usd": 1, "period": "daily"}}, admin)
    if status not in (200, 201):
        raise Failure(f"POST /admin/teams: {status} {body}")
    status, _, body = http("POST", gw + "/admin/keys", {"alias": "dash", "team": "search"}, admin)
    if status not in (200, 201):
        raise Failure(f"POST /admin/keys: {status} {body}")
    key = json.loads(body)["secret"]

    prom_config = os.path.join(workdir, "prometheus.yml")
    write_prometheus_config(prom_config, gw_port, alerts_path)
    prometheus = Process("prometheus", [
        args.prometheus, f"--config.file={prom_config}",
        f"--storage.tsdb.path={workdir}/prometheus-data", "--web.listen-address=127.0.0.1:0",
        "--storage.tsdb.retention.time=1h"], cwd=workdir)
    processes.append(prometheus)
    prom_port = int(prometheus.wait_for_line(r'msg="Listening on" address=127\.0\.0\.1:(\d+)',
                                             30).group(1))
    prom = Prometheus(prom_port)
    # A scrape from before the traffic, so that rates over the window see it grow.
    poll("Prometheus's first scrape of the gateway",
         lambda: prom.value('up{job="switchyard"}') == 1, 30)

    sent = send_traffic(gw, key)
    log(f"sent {sent} model requests through Chat Completions, Messages and Responses")

    # The ledger row is the last thing a request does, after its metrics: once the writer has
    # committed them all, every count is in. Then Prometheus must have scraped that state.
    def gateway_counts():
        status, _, text = http("GET", gw + "/metrics")
        if status != 200 or metric_sum(text, "switchyard_ledger_rows_written_total") < sent:
            return None
        return text
    exposition = poll("the ledger to commit every request", gateway_counts, 20)
    requests_seen = metric_sum(exposition, "switchyard_requests_total")
    poll("Prometheus to scrape the traffic",
         lambda: (prom.value("sum(switchyard_requests_total)") or 0) >= requests_seen
         and (prom.value("sum(switchyard_ledger_rows_written_total)") or 0) >= sent, 30)

    # promtool's lint on a real scrape after this traffic, governance families included.
    lint = subprocess.run([args.promtool, "check", "metrics"], input=exposition, text=True,
                          capture_output=True, timeout=30)
    failures = []
    if lint.returncode != 0 or lint.stdout.strip() or lint.stderr.strip():
        failures.append("promtool check metrics on a scrape of the gateway:\n"
                        + lint.stdout + lint.stderr)
    for family in ("switchyard_team_budget_usd", "switchyard_ledger_rows_written_total",
                   "process_resident_memory_bytes", "switchyard_client_connections_open"):
        if family not in exposition:
            failures.append(f"the scrape has no {family}")

    # Every query of the dashboard, as Grafana would send it.
    queried = 0
    for panel in panels_of(dashboard):
        for target in panel.get("targets", []):
            expr = substitute(target["expr"])
            answer = prom.query(expr)
            queried += 1
            where = f"panel '{panel['title']}' query {target.get('refId')}: {target['expr']}"
            if answer.get("status") != "success":
                failures.append(f"{where}\n    error: {answer.get('error')}")
            elif not has_number(answer):
                failures.append(f"{where}\n    no data: {json.dumps(answer.get('data'))[:300]}")
    # The template variables' queries: label_values(METRIC, LABEL) is the label's values on
    # the series of METRIC.
    for variable in dashboard["templating"]["list"]:
        if variable.get("type") != "query":
            continue
        q = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
        m = re.fullmatch(r"label_values\((\w+)(\{[^}]*\})?,\s*(\w+)\)", q.strip())
        if not m:
            failures.append(f"variable '{variable['name']}': not a label_values query: {q}")
            continue
        selector = m.group(1) + substitute(m.group(2) or "")
        values = prom.get(f"/api/v1/label/{m.group(3)}/values?"
                          + urllib.parse.urlencode({"match[]": selector}))["data"]
        queried += 1
        if not values:
            failures.append(f"variable '{variable['name']}': {q} has no values")
        log(f"variable {variable['name']}: {values}")
    log(f"ran {queried} dashboard queries")

    # The alert rules on the real series: each evaluates without error, and the conditions this
    # traffic created (a failing provider, a cooling target, 5xx answers, a team at 95% of its
    # budget) are pending (their `for:` has not passed yet) or firing.
    must_trigger = {
        ("SwitchyardUpstreamErrorRateHigh", "provider", "flaky"),
        ("SwitchyardTargetCoolingDown", "provider", "flaky"),
        ("SwitchyardProviderDown", "provider", "flaky"),
        ("SwitchyardHigh5xxRate", "job", "switchyard"),
        ("SwitchyardTeamBudgetNearlySpent", "team", "search"),
    }

    def alerts_state():
        rules = prom.get("/api/v1/rules")["data"]["groups"]
        evaluated = [r for g in rules for r in g["rules"]]
        # Never evaluated yet: Go's zero time.
        if not evaluated or any(r.get("lastEvaluation", "0001").startswith("0001")
                                for r in evaluated):
            return None
        alerts = prom.get("/api/v1/alerts")["data"]["alerts"]
        active = {(name, label, value) for name, label, value in must_trigger
                  if any(a["labels"].get("alertname") == name and a["labels"].get(label) == value
                         for a in alerts)}
        if active != must_trigger:
            return None
        return evaluated
    try:
        evaluated = poll("the alert rules to evaluate and the expected alerts to go pending",
                         alerts_state, 30)
        for r in evaluated:
            if r.get("health") != "ok":
                failures.append(f"alert rule {r['name']}: health {r.get('health')}: "
                                f"{r.get('lastError')}")
        log(f"{len(evaluated)} alert rules evaluated; pending or firing: "
            + ", ".join(sorted({a for a, _, _ in must_trigger})))
    except Failure as e:
        active = sorted({(a["labels"]["alertname"], a["state"], json.dumps(a["labels"]))
                         for a in prom.get("/api/v1/alerts")["data"]["alerts"]})
        failures.append(f"{e}; active alerts: {active}")

    if failures:
        raise Failure(f"{len(failures)} problem(s):\n" + "\n".join(failures))
    log("every dashboard query returned data; the alert rules evaluate on the real series")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--switchyard", required=True)
    parser.add_argument("--mock", required=True)
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--prometheus", default=shutil.which("prometheus"))
    parser.add_argument("--promtool", default=shutil.which("promtool"))
    args = parser.parse_args()
    args.switchyard, args.mock = os.path.abspath(args.switchyard), os.path.abspath(args.mock)
    if not args.prometheus or not args.promtool:
        print("SKIP: prometheus and promtool are not installed (Debian package 'prometheus'; "
              "scripts/install-deps.sh --test installs it): the dashboard is NOT checked",
              flush=True)
        return SKIP
    workdir = tempfile.mkdtemp(prefix="switchyard-dashboard-")
    processes = []
    try:
        run(args, workdir, processes)
        return 0
    except (Failure, OSError) as e:
        print(f"FAIL: {e}", flush=True)
        for p in processes:
            print(f"--- last output of {p.name}:\n{p.output()}", flush=True)
        return 1
    finally:
        for p in reversed(processes):
            p.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
