#!/usr/bin/env bash
# The real Claude Code and Codex CLIs, end to end through the Switchyard gateway, in front of
# the mock upstream speaking Anthropic, OpenAI chat (openai_compatible) and Gemini.
#
#   SWITCHYARD_BIN=... SWITCHYARD_MOCK_UPSTREAM_BIN=... tests/clients/cli/run_cli_tests.sh
#
# Everything (mock, gateway, CLIs) runs inside a fresh network namespace that has nothing but
# its own loopback (unshare -n; needs root or user namespaces), so the CLIs cannot reach the
# internet whatever they try. Each CLI gets a scratch HOME and working directory.
# The CLIs come from `npm ci` in this folder (package.json pins them).
#
# Against the Gemini upstream each run also checks the tool schemas that reached it
# (check_gemini_schemas.py): the CLIs' real tool declarations, converted by the gateway, must
# use only what Gemini's Schema accepts.
# Output: one "PASS: ..." or "FAIL: ..." line per check; on FAIL the CLI output, the gateway's
# log and access log, and the mock's log, /mock/stats and /mock/last-request follow.
# A CLI that cannot start at all (not installed, --version fails) is reported as
# "SKIP: <cli> could not start: <reason>" and its checks are not run.
# Exit: 1 if any check failed; 77 if nothing could run at all (CTest: skipped); else 0.
# Environment knobs: CLAUDE_BIN / CODEX_BIN (use these executables instead of node_modules),
# SWITCHYARD_CLI_TIMEOUT (seconds per CLI run, default 40), SWITCHYARD_CLI_KEEP=1 (keep the
# scratch dir; it is always kept after a failure), SWITCHYARD_CLI_ONLY=claude|codex.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if [[ "${SWITCHYARD_CLI_IN_NETNS:-}" != 1 ]]; then
  for var in SWITCHYARD_BIN SWITCHYARD_MOCK_UPSTREAM_BIN; do
    if [[ -z "${!var:-}" || ! -x "${!var}" ]]; then
      echo "FAIL: $var must name the executable (got '${!var:-}')"
      exit 1
    fi
  done
  if ! command -v unshare >/dev/null || ! command -v ip >/dev/null; then
    echo "SKIP: ALL CLI TESTS: unshare (util-linux) and ip (iproute2) are needed for the loopback-only namespace"
    exit 77
  fi
  if ! probe=$(unshare -n -- true 2>&1); then
    echo "SKIP: ALL CLI TESTS: cannot create a loopback-only network namespace (unshare -n): $probe"
    echo "SKIP: the CLIs are only ever run without a route to the internet; run as root"
    exit 77
  fi
  SWITCHYARD_CLI_IN_NETNS=1 exec unshare -n -- bash "${BASH_SOURCE[0]}" "$@"
fi

# ---- inside the namespace ----------------------------------------------------------------
ip link set lo up
# Belt and braces: nothing but loopback may be up in here.
if [[ -n "$(ip -o link show up | awk -F': ' '$2 != "lo" {print $2}')" ]]; then
  echo "FAIL: the namespace has interfaces other than lo:"; ip -o link show up
  exit 1
fi
if [[ -n "$(ip route show default)" ]]; then
  echo "FAIL: the namespace has a default route: $(ip route show default)"
  exit 1
fi

# 14 runs must fit in the CTest TIMEOUT (600 s); a passing run takes a few seconds.
run_timeout=${SWITCHYARD_CLI_TIMEOUT:-40}
scratch=$(mktemp -d "${TMPDIR:-/tmp}/switchyard-cli.XXXXXX")
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ "${SWITCHYARD_CLI_KEEP:-}" == 1 || ${failures:-0} -gt 0 ]]; then
    echo "scratch dir kept: $scratch"
  else
    rm -rf "$scratch"
  fi
}
trap cleanup EXIT

passes=0 failures=0 skips=0 ran=0
auth=""  # set for one run_check: the gateway then wants a virtual key (bearer or api-key)
failed_names=()

# Plain HTTP GET on loopback with bash only (curl may be missing). $1 port, $2 path.
http_get() {
  local port=$1 path=$2 line
  exec 9<>"/dev/tcp/127.0.0.1/$port" || return 1
  printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' "$path" >&9
  # Drop the status line and headers, print the body.
  while IFS= read -r line <&9; do [[ "$line" == $'\r' || -z "$line" ]] && break; done
  cat <&9
  exec 9<&-
}

# Starts a process with its output in $2 and waits for "listening on ...:PORT"; sets
# started_pid and started_port.
start_listener() {
  local name=$1 log=$2; shift 2
  : >"$log"
  "$@" >"$log" 2>&1 &
  started_pid=$!
  pids+=("$started_pid")
  local i
  for ((i = 0; i < 100; i++)); do
    if started_port=$(grep -m1 -o 'listening on .*:[0-9]*' "$log" | grep -o '[0-9]*$'); then
      return 0
    fi
    if ! kill -0 "$started_pid" 2>/dev/null; then break; fi
    sleep 0.1
  done
  echo "FAIL: $name did not start listening:"; sed 's/^/    /' "$log"
  return 1
}

stop_listener() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# Writes the gateway config for one upstream kind: model "sy-model" on provider "up" (for
# "failover", behind a first target that refuses connections).
write_config() {
  local file=$1 kind=$2 mock_port=$3 access_log=$4 provider
  case "$kind" in
    anthropic) provider="type: anthropic
    base_url: http://127.0.0.1:$mock_port
    api_key: sk-ant-upstream-secret" ;;
    openai_compatible) provider="type: openai_compatible
    base_url: http://127.0.0.1:$mock_port/v1
    api_key: sk-upstream-secret" ;;
    gemini) provider="type: gemini
    base_url: http://127.0.0.1:$mock_port/v1beta
    api_key: gemini-upstream-secret" ;;
    failover)
      # sy-model's first target refuses connections (nothing listens on port 1, and the
      # breaker never opens): every request fails over to the Anthropic-type second target.
      cat >"$file" <<EOF
listen: 127.0.0.1:0
workers: 2
access_log: $access_log
providers:
  - {name: dead, type: openai_compatible, base_url: "http://127.0.0.1:1/v1", api_key: sk-dead-secret}
  - {name: up, type: anthropic, base_url: "http://127.0.0.1:$mock_port", api_key: sk-ant-upstream-secret}
models:
  - name: sy-model
    strategy: ordered
    cooldown: {failures: 1000}
    targets:
      - {provider: dead, model: dead-upstream}
      - {provider: up, model: upstream-anthropic, price: {input_per_mtok: 1, output_per_mtok: 2}}
EOF
      return ;;
  esac
  cat >"$file" <<EOF
listen: 127.0.0.1:0
workers: 2
access_log: $access_log
providers:
  - name: up
    $provider
models:
  - name: sy-model
    provider: up
    model: upstream-$kind
    price: {input_per_mtok: 1, output_per_mtok: 2}
EOF
}

# With `auth` set (bearer or api-key), the gateway also gets a governance section: a master key,
# its store in the run's directory, and so client authentication on (issue 12).
master_key=master-key-for-the-cli-tests-0123456789
add_governance() {
  printf 'governance:\n  master_key: %s\n  database: %s\n' "$master_key" "$2" >>"$1"
}

# A client key made through the admin API; prints "id secret".
make_client_key() {
  "$node_bin" -e '
    const [port, master] = process.argv.slice(1);
    fetch(`http://127.0.0.1:${port}/admin/keys`, {method: "POST",
      headers: {authorization: `Bearer ${master}`}, body: JSON.stringify({alias: "cli"})})
      .then(r => r.json()).then(k => console.log(k.id, k.secret));' "$1" "$master_key"
}

# The mock's stats key for what the gateway should send to each upstream kind.
protocol_key() {
  case "$1" in
    anthropic | failover) echo anthropic_messages ;;
    openai_compatible) echo openai_chat ;;
    gemini) echo gemini ;;
  esac
}

report_failure() {
  local dir=$1 why=$2
  echo "FAIL: $current_name: $why"
  failures=$((failures + 1))
  failed_names+=("$current_name")
  {
    echo "  --- command: $(cat "$dir/command")"
    echo "  --- exit status: $(cat "$dir/status" 2>/dev/null || echo '?')"
    echo "  --- CLI stdout (last 60 lines):"; tail -n 60 "$dir/stdout" | sed 's/^/    /'
    echo "  --- CLI stderr (last 60 lines):"; tail -n 60 "$dir/stderr" | sed 's/^/    /'
    echo "  --- every HTTP request the CLI sent to the gateway, with the status it got:"
    if [[ -s "$dir/requests.log" ]]; then sed 's/^/    /' "$dir/requests.log"; else echo "    (none)"; fi
    echo "  --- gateway log:"; sed 's/^/    /' "$dir/gateway.log"
    echo "  --- gateway access log (model requests):"
    sed 's/^/    /' "$dir/access.log" 2>/dev/null || true
    echo "  --- mock log:"; sed 's/^/    /' "$dir/mock.log"
    echo "  --- mock /mock/stats:"; echo "    $(cat "$dir/mock-stats.json")"
    echo "  --- mock /mock/last-request (what last reached the upstream; body cut at 6000 chars):"
    echo "    $(head -c 6000 "$dir/mock-last-request.json")"
    echo "  --- all of this run's files (CLI home, config, logs) are kept in $dir"
  }
}

# One CLI run against one upstream kind. $1 cli (claude|codex), $2 kind, $3 mode (text|tool).
run_check() {
  local cli=$1 kind=$2 mode=$3
  current_name="$cli against a $kind upstream: $mode${auth:+ (a virtual key, $auth)}"
  local dir="$scratch/$cli-$kind-$mode${auth:+-$auth}"
  mkdir -p "$dir/home" "$dir/work"
  ran=$((ran + 1))

  local mock_args=(--listen 127.0.0.1:0)
  [[ "$mode" == tool ]] && mock_args+=(--tool-script auto)
  start_listener mock "$dir/mock.log" "$SWITCHYARD_MOCK_UPSTREAM_BIN" "${mock_args[@]}" || {
    echo "FAIL: $current_name: the mock upstream did not start"; failures=$((failures + 1))
    failed_names+=("$current_name"); return; }
  local mock_pid=$started_pid mock_port=$started_port
  write_config "$dir/switchyard.yaml" "$kind" "$mock_port" "$dir/access.log"
  [[ -n "$auth" ]] && add_governance "$dir/switchyard.yaml" "$dir/gov.db"
  start_listener gateway "$dir/gateway.log" "$SWITCHYARD_BIN" --config "$dir/switchyard.yaml" || {
    echo "FAIL: $current_name: the gateway did not start"; failures=$((failures + 1))
    failed_names+=("$current_name"); stop_listener "$mock_pid"; return; }
  local gw_pid=$started_pid gw_port=$started_port
  # The key the CLI sends: without authentication any text; with it, a key the gateway made.
  local client_key=sk-switchyard-client key_id=""
  if [[ -n "$auth" ]]; then
    read -r key_id client_key < <(make_client_key "$gw_port")
  fi
  local claude_auth=(ANTHROPIC_AUTH_TOKEN="$client_key")
  [[ "$auth" == api-key ]] && claude_auth=(ANTHROPIC_API_KEY="$client_key")
  # The CLI talks to the gateway through a relay that writes down every request and status
  # (the access log only has model requests). Without node the CLI goes straight to it.
  local relay_pid="" cli_port=$gw_port
  : >"$dir/requests.log"
  if [[ -n "$node_bin" ]] &&
    start_listener relay "$dir/relay.log" "$node_bin" "$here/record_relay.mjs" "$gw_port" "$dir/requests.log"; then
    relay_pid=$started_pid cli_port=$started_port
  else
    echo "(no request log for this run: node missing or the relay did not start)" >"$dir/requests.log"
  fi

  local expect prompt
  if [[ "$mode" == text ]]; then
    expect="Switchyard mock answer via $kind"
    prompt="Reply with a greeting.
#mock {\"text\":\"$expect\",\"chunks\":3}"
  else
    # The mock (--tool-script auto) asks for the CLI's shell tool to run
    # `echo switchyard-tool-ok`, then answers "Tool result: <the tool's output>" (Claude Code
    # sends the bare output back; Codex wraps it: "Chunk ID: ...\nOutput:\nswitchyard-tool-ok").
    expect="Tool result: ... switchyard-tool-ok"
    prompt="Run the shell command the tool call asks for."
  fi

  # A clean environment: only what the CLI needs, nothing from the caller's HOME.
  local base_env=(HOME="$dir/home" USER=switchyard-test LOGNAME=switchyard-test
    PATH="$cli_path" TERM=dumb NO_COLOR=1 LANG=C.UTF-8 TMPDIR="$dir/tmp")
  mkdir -p "$dir/tmp"
  local cmd=()
  if [[ "$cli" == claude ]]; then
    cmd=(env -i "${base_env[@]}"
      ANTHROPIC_BASE_URL="http://127.0.0.1:$cli_port"
      "${claude_auth[@]}"
      ANTHROPIC_MODEL=sy-model
      ANTHROPIC_DEFAULT_HAIKU_MODEL=sy-model
      ANTHROPIC_DEFAULT_SONNET_MODEL=sy-model
      ANTHROPIC_DEFAULT_OPUS_MODEL=sy-model
      CLAUDE_CODE_SUBAGENT_MODEL=sy-model
      CLAUDE_CODE_MAX_OUTPUT_TOKENS=4096
      CLAUDE_CODE_MAX_RETRIES=1
      API_TIMEOUT_MS=60000
      DISABLE_AUTOUPDATER=1
      DISABLE_TELEMETRY=1
      DISABLE_ERROR_REPORTING=1
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1
      "$claude_bin" -p "$prompt" --allowedTools Bash)
  else
    mkdir -p "$dir/home/.codex"
    cat >"$dir/home/.codex/config.toml" <<EOF
model = "sy-model"
model_provider = "switchyard"

[model_providers.switchyard]
name = "Switchyard"
base_url = "http://127.0.0.1:$cli_port/v1"
env_key = "SWITCHYARD_API_KEY"
wire_api = "responses"
request_max_retries = 1
stream_max_retries = 1
stream_idle_timeout_ms = 60000
EOF
    cmd=(env -i "${base_env[@]}" CODEX_HOME="$dir/home/.codex"
      SWITCHYARD_API_KEY="$client_key"
      "${codex_cmd[@]}" exec --skip-git-repo-check --dangerously-bypass-approvals-and-sandbox
      --color never -C "$dir/work" "$prompt")
  fi
  printf '%q ' "${cmd[@]}" >"$dir/command"

  local status=0
  (cd "$dir/work" && timeout -k 5 "$run_timeout" "${cmd[@]}" </dev/null >"$dir/stdout" 2>"$dir/stderr") ||
    status=$?
  echo "$status" >"$dir/status"
  http_get "$mock_port" /mock/stats >"$dir/mock-stats.json" 2>/dev/null || echo '(unreachable)' >"$dir/mock-stats.json"
  http_get "$mock_port" /mock/last-request >"$dir/mock-last-request.json" 2>/dev/null ||
    echo '(unreachable)' >"$dir/mock-last-request.json"
  [[ -n "$relay_pid" ]] && stop_listener "$relay_pid"
  stop_listener "$gw_pid"
  stop_listener "$mock_pid"

  local key; key=$(protocol_key "$kind")
  if [[ "$status" == 124 || "$status" == 137 ]]; then
    report_failure "$dir" "the CLI did not finish within ${run_timeout}s"
  elif [[ "$status" != 0 ]]; then
    report_failure "$dir" "the CLI exited with status $status"
  elif ! grep -q "\"$key\":[1-9]" "$dir/mock-stats.json"; then
    report_failure "$dir" "no $key request reached the mock upstream"
  elif [[ "$kind" == failover ]] &&
    ! grep -q '"provider":"up",.*"attempts":2,.*"status":200' "$dir/access.log"; then
    report_failure "$dir" "no request failed over: the access log has none served by up on attempt 2"
  elif [[ -n "$key_id" ]] && ! grep -qF "\"key_id\":\"$key_id\"" "$dir/access.log"; then
    report_failure "$dir" "the access log names no request of the virtual key $key_id"
  elif [[ "$mode" == text ]] && ! grep -qF "$expect" "$dir/stdout"; then
    report_failure "$dir" "stdout does not contain the mock's answer \"$expect\""
  elif [[ "$kind" == gemini ]] &&
    ! schema_problems=$(python3 "$here/check_gemini_schemas.py" "$dir/mock-last-request.json"); then
    # The CLI's real tool declarations, as the gateway sent them to Gemini: Gemini answers 400
    # to a keyword outside its Schema subset (the mock does not check them itself).
    report_failure "$dir" "tool schemas Gemini would refuse reached it: $(echo "$schema_problems" | head -n 5)"
  elif [[ "$mode" == tool && "$(sed -n '/Tool result: /,$p' "$dir/stdout")" != *switchyard-tool-ok* ]]; then
    if grep -q 'Tool result: ' "$dir/stdout"; then
      report_failure "$dir" "the tool result sent back did not carry the command's output switchyard-tool-ok"
    else
      report_failure "$dir" "no final answer \"Tool result: ...\": the tool round trip did not complete"
    fi
  else
    echo "PASS: $current_name (stdout has \"$expect\")"
    sed 's/  \[connection [0-9]*\]$//' "$dir/requests.log" | sort | uniq -c | sed 's/^ */      requests: /'
    passes=$((passes + 1))
  fi
}

# Can the CLI start at all? Sets start_error when not.
cli_path="/usr/local/bin:/usr/bin:/bin"
node_bin=$(command -v node || true)
if [[ -n "$node_bin" && ":$cli_path:" != *":$(dirname "$node_bin"):"* ]]; then
  cli_path="$(dirname "$node_bin"):$cli_path"
fi

find_claude() {
  if [[ -n "${CLAUDE_BIN:-}" ]]; then echo "$CLAUDE_BIN"; return; fi
  # The npm package's postinstall copies the native binary over bin/claude.exe; npm ci without
  # install scripts leaves a placeholder there, so use the platform package's binary directly.
  local arch libc="" candidate
  case "$(uname -m)" in x86_64) arch=x64 ;; aarch64 | arm64) arch=arm64 ;; *) arch=$(uname -m) ;; esac
  if ldd --version 2>&1 | grep -qi musl; then libc=-musl; fi
  for candidate in "$here/node_modules/@anthropic-ai/claude-code-linux-$arch$libc/claude" \
    "$here/node_modules/@anthropic-ai/claude-code/bin/claude.exe"; do
    if [[ -x "$candidate" ]]; then echo "$candidate"; return; fi
  done
}

probe_cli() {
  local name=$1; shift
  local out status=0
  out=$(cd "$scratch" && timeout 30 env -i HOME="$scratch/probe-home" PATH="$cli_path" "$@" --version 2>&1) ||
    status=$?
  if [[ $status != 0 ]]; then
    start_error="'$* --version' exited with status $status: $(echo "$out" | tail -n 5)"
    return 1
  fi
  echo "$name: $(echo "$out" | tail -n 1)"
}

mkdir -p "$scratch/probe-home"
kinds=(anthropic openai_compatible gemini)

for cli in claude codex; do
  if [[ -n "${SWITCHYARD_CLI_ONLY:-}" && "$SWITCHYARD_CLI_ONLY" != "$cli" ]]; then continue; fi
  start_error=""
  if [[ "$cli" == claude ]]; then
    claude_bin=$(find_claude)
    if [[ -z "$claude_bin" ]]; then
      start_error="no Claude Code binary under $here/node_modules (run npm ci in $here)"
    else
      probe_cli claude "$claude_bin" || true
    fi
  else
    codex_js="$here/node_modules/@openai/codex/bin/codex.js"
    if [[ -n "${CODEX_BIN:-}" ]]; then
      codex_cmd=("$CODEX_BIN")
    elif [[ ! -f "$codex_js" ]]; then
      start_error="no Codex under $here/node_modules (run npm ci in $here)"
    elif [[ -z "$node_bin" ]]; then
      start_error="node is not on PATH (the npm package's launcher is a node script)"
    else
      codex_cmd=("$node_bin" "$codex_js")
    fi
    [[ -z "$start_error" ]] && { probe_cli codex "${codex_cmd[@]}" || true; }
  fi
  if [[ -n "$start_error" ]]; then
    echo "################################################################################"
    echo "SKIP: $cli could not start: $start_error"
    echo "################################################################################"
    skips=$((skips + 1))
    continue
  fi
  for kind in "${kinds[@]}"; do
    for mode in text tool; do
      run_check "$cli" "$kind" "$mode"
    done
  done
  run_check "$cli" failover text
  # With client authentication on: a virtual key as each CLI sends it (Claude Code's
  # ANTHROPIC_AUTH_TOKEN and ANTHROPIC_API_KEY, Codex's env_key).
  if [[ -n "$node_bin" ]]; then
    auth=bearer run_check "$cli" anthropic text
    [[ "$cli" == claude ]] && auth=api-key run_check "$cli" anthropic text
  fi
done

echo "== $passes passed, $failures failed, $skips CLI(s) skipped"
for name in "${failed_names[@]}"; do echo "   failed: $name"; done
if ((failures > 0)); then exit 1; fi
if ((ran == 0)); then exit 77; fi
exit 0
