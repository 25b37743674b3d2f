#!/usr/bin/env python3
"""The container image (deploy/Dockerfile), built and run with podman (issue 13).

1. Makes sure a Debian 12 base image is there: no image registry is reachable here, so the
   first run builds one from Debian's archive with mmdebstrap (minbase, with the path
   exclusions of Debian's slim images), through the apt sources this machine already uses,
   and imports it as localhost/switchyard-test-base:bookworm. Later runs reuse it.
2. Builds deploy/Dockerfile with pulls disabled and BASE pointing at that image. Layers and
   the ccache cache mount make a repeat build quick.
3. Runs the image as a user would, with its default command and config, in a container with
   no network but its own loopback: the HEALTHCHECK turns healthy, the built-in mock model
   answers a chat request (sent from inside the container), the gateway is PID 1 and runs as
   the non-root user, the ledger is written in /var/lib/switchyard, and `podman stop` ends it
   with status 0. The same again as deploy/kubernetes runs it: the ConfigMap's config, a
   read-only root file system, no capabilities, tmpfs for the ledger and /tmp.
4. Runs it again on the host's network with a config mounted in, in front of
   switchyard-mock-upstream on 127.0.0.1: a chat request from the host is answered through the
   mock; then a slow stream is started, `podman stop` is sent while it runs, and the test
   checks the gateway stopped being ready, the stream arrived whole, and the container exited
   0 by itself (a SIGKILL at the stop timeout would be 137).

Everything listens on 127.0.0.1 (or inside the container's own network namespace); every
wait is a poll with a deadline. Exit 77 (CTest's SKIP), with the reason, when podman,
mmdebstrap or a Debian 12 apt source is missing, or no container can start on this machine;
`scripts/install-deps.sh --test` installs the tools.

usage: test_container.py --mock BIN --source-dir DIR
"""
import argparse
import http.client
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

SKIP = 77
BASE_TAG = "localhost/switchyard-test-base:bookworm"
IMAGE_TAG = "localhost/switchyard-test:latest"
DRAIN_TIMEOUT_MS = 30000
STOP_TIMEOUT_S = 60  # podman stop's SIGKILL comes this long after SIGTERM: above the drain
STREAM_CHUNKS = 60
STREAM_CHUNK_DELAY_MS = 100
# Debian's slim images leave documentation, manuals and translations out; the test's base
# does the same, so the image it measures is the size a user gets from debian:bookworm-slim.
SLIM_DPKG_OPTIONS = [
    "path-exclude=/usr/share/doc/*", "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/man/*", "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/groff/*", "path-exclude=/usr/share/lintian/*",
    "path-exclude=/usr/share/linda/*", "path-exclude=/usr/share/locale/*",
    "path-include=/usr/share/locale/locale.alias",
]


class Failure(Exception):
    pass


def log(msg):
    print(msg, flush=True)


def skip(reason):
    log(f"SKIP: the container test cannot run on this machine: {reason}")
    sys.exit(SKIP)


def run(cmd, check=True, timeout=120, **kw):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise Failure(f"{' '.join(cmd)} exited {p.returncode}:\n{p.stdout[-4000:]}")
    return p


def poll(what, deadline_s, fn, interval=0.1):
    """Calls fn until it returns something true, at most deadline_s seconds."""
    end = time.monotonic() + deadline_s
    while True:
        result = fn()
        if result:
            return result
        if time.monotonic() > end:
            raise Failure(f"timed out after {deadline_s} s waiting for {what}")
        time.sleep(interval)


class Podman:
    """podman with the runtime and limits this machine accepts (found by probe())."""

    def __init__(self):
        self.global_args = []
        self.limit_args = []

    def cmd(self, *args):
        return ["podman", *self.global_args, *args]

    def run_args(self):
        return self.limit_args

    def probe(self):
        """Starts a trivial container from the base image with podman's defaults, then with the
        limits of this process (podman otherwise asks for more open files than a sandbox may
        grant) and with runc (crun refuses hybrid cgroup hierarchies); keeps the first that
        works, or skips with each one's error."""
        nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        limits = ["--ulimit", f"nofile={nofile}:{nofile}", "--ulimit", "nproc=4096:4096"]
        runtimes = [[]]
        if shutil.which("runc"):
            runtimes.append(["--runtime", "runc"])
        errors = []
        for runtime in runtimes:
            for lim in ([], limits):
                p = run(["podman", *runtime, "run", "--rm", "--network", "none", *lim, BASE_TAG,
                         "true"], check=False, timeout=60)
                if p.returncode == 0:
                    self.global_args, self.limit_args = runtime, lim
                    log(f"podman runs containers here with {' '.join(runtime + lim) or 'its defaults'}")
                    return
                errors.append(f"  podman {' '.join(runtime + lim)} run: {p.stdout.strip()[-300:]}")
        skip("no container starts:\n" + "\n".join(errors))


def debian_sources():
    """This machine's apt source files that name Debian 12, for mmdebstrap to use as they are."""
    files = []
    if os.path.isfile("/etc/apt/sources.list"):
        files.append("/etc/apt/sources.list")
    d = "/etc/apt/sources.list.d"
    if os.path.isdir(d):
        files += [os.path.join(d, f) for f in sorted(os.listdir(d))
                  if f.endswith(".list") or f.endswith(".sources")]
    found = []
    for f in files:
        try:
            with open(f) as fh:
                text = fh.read()
        except OSError:
            continue
        lines = [l for l in text.splitlines() if l.strip() and not l.lstrip().startswith("#")]
        if any("bookworm" in l for l in lines) and any("debian" in l for l in lines):
            found.append(f)
    return found


def ensure_base(podman):
    if run(["podman", "image", "exists", BASE_TAG], check=False).returncode == 0:
        log(f"base image {BASE_TAG}: cached")
        return
    if not shutil.which("mmdebstrap"):
        skip("mmdebstrap is not installed (scripts/install-deps.sh --test installs it)")
    sources = debian_sources()
    if not sources:
        skip("no Debian 12 (bookworm) apt source in /etc/apt/sources.list*")
    log(f"base image {BASE_TAG}: building with mmdebstrap from {', '.join(sources)}")
    started = time.monotonic()
    dpkgopts = [f"--dpkgopt={o}" for o in SLIM_DPKG_OPTIONS]
    with tempfile.TemporaryDirectory() as tmp:
        tarball = os.path.join(tmp, "rootfs.tar")
        p = run(["mmdebstrap", "--variant=minbase", "--quiet", *dpkgopts, "bookworm", tarball,
                 *sources], check=False, timeout=900)
        if p.returncode != 0:
            skip(f"mmdebstrap could not build a Debian 12 root from this machine's apt sources "
                 f"(exit {p.returncode}):\n{p.stdout[-2000:]}")
        run(["podman", "import", "--change", 'CMD ["bash"]', tarball, BASE_TAG], timeout=300)
    log(f"base image built in {time.monotonic() - started:.0f} s")


def build_image(podman, source_dir):
    log("building deploy/Dockerfile")
    started = time.monotonic()
    cmd = podman.cmd("build", "--format", "docker", "--pull=never", "--layers",
                     *podman.limit_args, "--build-arg", f"BASE={BASE_TAG}",
                     "-f", os.path.join(source_dir, "deploy", "Dockerfile"), "-t", IMAGE_TAG,
                     source_dir)
    p = run(cmd, check=False, timeout=2400)
    if p.returncode != 0:
        raise Failure(f"the image build failed (exit {p.returncode}):\n{p.stdout[-6000:]}")
    size = int(run(["podman", "image", "inspect", "--format", "{{.Size}}", IMAGE_TAG]).stdout)
    base = int(run(["podman", "image", "inspect", "--format", "{{.Size}}", BASE_TAG]).stdout)
    log(f"image built in {time.monotonic() - started:.0f} s: {size / 1e6:.1f} MB, "
        f"{(size - base) / 1e6:.1f} MB above the base image")


def container_state(podman, name):
    out = run(podman.cmd("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", name)).stdout
    status, code = out.split()
    return status, int(code)


def logs(podman, name):
    return run(podman.cmd("logs", name), check=False).stdout[-4000:]


def configmap_config(source_dir):
    """The gateway config in deploy/kubernetes/configmap.yaml (its `switchyard.yaml: |` block)."""
    path = os.path.join(source_dir, "deploy", "kubernetes", "configmap.yaml")
    lines, inside = [], False
    with open(path) as f:
        for line in f:
            if line.rstrip() == "  switchyard.yaml: |":
                inside = True
            elif inside and (line.startswith("    ") or not line.strip()):
                lines.append(line[4:])
            elif inside:
                break
    if not lines:
        raise Failure(f"no switchyard.yaml block in {path}")
    return "".join(lines)


def check_default_image(podman, label="the image with its default command", args=(), command=(),
                        reply="Hello from Switchyard!"):
    """The image as shipped (its command, config and HEALTHCHECK, or those given), with no
    network at all: the chat request is sent from inside the container."""
    name = f"switchyard-test-default-{os.getpid()}"
    log(f"-- {label}, in a container with only its own loopback")
    try:
        run(podman.cmd("run", "-d", "--name", name, "--network", "none", *podman.run_args(),
                       *args, IMAGE_TAG, *command))

        def healthy():
            if container_state(podman, name)[0] != "running":
                raise Failure(f"the container stopped:\n{logs(podman, name)}")
            p = run(podman.cmd("healthcheck", "run", name), check=False)
            if "no defined healthcheck" in p.stdout or "not defined" in p.stdout:
                raise Failure(f"the image has no HEALTHCHECK: {p.stdout.strip()}")
            return p.returncode == 0
        poll("the image's HEALTHCHECK to pass", 60, healthy, interval=0.5)
        log("HEALTHCHECK (GET /health/ready) passes")

        body = json.dumps({"model": "mock-gpt", "messages": [{"role": "user", "content": "hi"}]})
        p = run(podman.cmd("exec", name, "curl", "-sS", "--noproxy", "*", "--max-time", "20",
                           "-H", "content-type: application/json", "-d", body,
                           "http://127.0.0.1:4000/v1/chat/completions"))
        answer = json.loads(p.stdout)
        text = answer["choices"][0]["message"]["content"]
        if not text.startswith(reply):
            raise Failure(f"mock-gpt answered {p.stdout!r}, not {reply!r}...")
        log(f"mock-gpt answers: {text[:40]!r}...")

        uid = run(podman.cmd("exec", name, "id", "-u")).stdout.strip()
        if uid == "0":
            raise Failure("the gateway runs as root in the image")
        pid1 = run(podman.cmd("exec", name, "cat", "/proc/1/cmdline")).stdout.split("\0")
        if pid1[0] != "/usr/local/bin/switchyard":
            raise Failure(f"PID 1 is {pid1!r}, not the gateway: a shell in front would swallow SIGTERM")
        run(podman.cmd("exec", name, "test", "-s", "/var/lib/switchyard/switchyard.db"))
        log(f"PID 1 is the gateway, running as uid {uid}; the ledger is in /var/lib/switchyard")

        run(podman.cmd("stop", "-t", str(STOP_TIMEOUT_S), name), timeout=STOP_TIMEOUT_S + 30)
        status, code = container_state(podman, name)
        if code != 0:
            raise Failure(f"after podman stop the container exited {code}:\n{logs(podman, name)}")
        log("podman stop: exit 0")
    finally:
        run(podman.cmd("rm", "-f", name), check=False)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def get_status(port, path):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        c.request("GET", path)
        r = c.getresponse()
        r.read()
        c.close()
        return r.status
    except OSError:
        return None


def post_json(port, path, body, timeout=30):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    c.request("POST", path, body=json.dumps(body), headers={"content-type": "application/json"})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


class Stream(threading.Thread):
    """One streamed chat request, read event by event."""

    def __init__(self, port, body):
        super().__init__(daemon=True)
        self.port, self.body = port, body
        self.pieces, self.done, self.error = [], False, None
        self.first_piece = threading.Event()
        self.finished = threading.Event()

    def run(self):
        try:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            c.request("POST", "/v1/chat/completions", body=json.dumps(self.body),
                      headers={"content-type": "application/json"})
            r = c.getresponse()
            if r.status != 200:
                raise Failure(f"stream answered {r.status}: {r.read()[:500]!r}")
            while True:
                line = r.readline()
                if not line:
                    break
                line = line.decode().strip()
                if not line.startswith("data: "):
                    continue
                data = line[len("data: "):]
                if data == "[DONE]":
                    self.done = True
                    continue
                event = json.loads(data)
                for choice in event.get("choices", []):
                    piece = choice.get("delta", {}).get("content")
                    if piece:
                        self.pieces.append(piece)
                        self.first_piece.set()
            c.close()
        except Exception as e:  # reported by the main thread
            self.error = e
        finally:
            self.first_piece.set()
            self.finished.set()


class Mock:
    def __init__(self, binary, workdir):
        self.out = open(os.path.join(workdir, "mock.log"), "w+")
        self.proc = subprocess.Popen([binary, "--listen", "127.0.0.1:0"], stdout=self.out,
                                     stderr=subprocess.STDOUT, text=True)

        def port():
            self.out.seek(0)
            for line in self.out.read().splitlines():
                if "listening on" in line:
                    return int(line.rsplit(":", 1)[1])
            if self.proc.poll() is not None:
                raise Failure(f"the mock upstream exited {self.proc.returncode}")
            return None
        self.port = poll("the mock upstream to listen", 20, port)

    def stats(self):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        c.request("GET", "/mock/stats")
        stats = json.loads(c.getresponse().read())
        c.close()
        return stats

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.out.close()


def check_drain(podman, mock_binary, workdir):
    """The image on the host's network with a config mounted in, in front of the mock."""
    log("-- the image on the host's network, a mounted config, the mock upstream on 127.0.0.1")
    name = f"switchyard-test-drain-{os.getpid()}"
    mock = Mock(mock_binary, workdir)
    try:
        port = free_port()
        config_dir = os.path.join(workdir, "config")
        os.mkdir(config_dir)
        os.chmod(config_dir, 0o755)  # the container's user is not root
        config = os.path.join(config_dir, "switchyard.yaml")
        with open(config, "w") as f:
            f.write(f"""listen: 127.0.0.1:{port}
drain_timeout_ms: {DRAIN_TIMEOUT_MS}
access_log: stdout
providers:
  - {{name: upstream, type: openai_compatible, base_url: "http://127.0.0.1:{mock.port}/v1"}}
models:
  - {{name: chat-test, provider: upstream, price: {{input_per_mtok: 1, output_per_mtok: 2}}}}
""")
        os.chmod(config, 0o644)
        run(podman.cmd("run", "-d", "--name", name, "--network", "host", *podman.run_args(),
                       "-v", f"{config_dir}:/etc/switchyard/test:ro",
                       "-e", f"SWITCHYARD_HEALTH_URL=http://127.0.0.1:{port}/health/ready",
                       IMAGE_TAG, "--config", "/etc/switchyard/test/switchyard.yaml"))

        def ready():
            if container_state(podman, name)[0] != "running":
                raise Failure(f"the container stopped:\n{logs(podman, name)}")
            return get_status(port, "/health/ready") == 200
        poll("GET /health/ready to answer 200", 60, ready)
        run(podman.cmd("healthcheck", "run", name))
        log(f"ready on 127.0.0.1:{port}; HEALTHCHECK passes with SWITCHYARD_HEALTH_URL")

        status, data = post_json(port, "/v1/chat/completions", {
            "model": "chat-test",
            "messages": [{"role": "user", "content":
                          'hi\n#mock {"text":"Answered through the container","chunks":3}'}]})
        if status != 200:
            raise Failure(f"chat request answered {status}: {data[:500]!r}")
        text = json.loads(data)["choices"][0]["message"]["content"]
        if text != "Answered through the container":
            raise Failure(f"chat request answered {text!r}")
        if mock.stats()["requests"] < 1:
            raise Failure("the mock upstream saw no request")
        log("a chat request from the host is answered through the mock upstream")

        words = [f"w{i}" for i in range(STREAM_CHUNKS)]
        plan = {"text": " ".join(words), "chunks": STREAM_CHUNKS,
                "chunk_delay_ms": STREAM_CHUNK_DELAY_MS}
        stream = Stream(port, {"model": "chat-test", "stream": True, "messages": [
            {"role": "user", "content": "stream please\n#mock " + json.dumps(plan)}]})
        stream.start()
        if not stream.first_piece.wait(30) or stream.error:
            raise Failure(f"the stream did not start: {stream.error}")
        pieces_at_stop = len(stream.pieces)
        log(f"stream running ({pieces_at_stop} of {STREAM_CHUNKS} pieces): podman stop")
        stop_started = time.monotonic()
        stopper = subprocess.Popen(podman.cmd("stop", "-t", str(STOP_TIMEOUT_S), name),
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

        # Draining: /health/ready stops answering 200 (503, or the listener is closed) while
        # the stream goes on.
        def not_ready():
            return get_status(port, "/health/ready") != 200
        poll("the gateway to stop being ready after SIGTERM", 20, not_ready, interval=0.05)
        still_streaming = not stream.finished.is_set()
        log(f"not ready any more; stream still running: {still_streaming}")

        if not stream.finished.wait(STOP_TIMEOUT_S + 30):
            raise Failure("the stream did not finish")
        out, _ = stopper.communicate(timeout=STOP_TIMEOUT_S + 30)
        stop_seconds = time.monotonic() - stop_started
        if stream.error:
            raise Failure(f"the stream broke during the drain: {stream.error}\n{logs(podman, name)}")
        if "".join(stream.pieces).split() != words or not stream.done:
            raise Failure(f"the stream arrived incomplete: {len(stream.pieces)} pieces, "
                          f"[DONE] {'seen' if stream.done else 'missing'}")
        if pieces_at_stop >= STREAM_CHUNKS:
            raise Failure("the stream had already finished when podman stop was sent")
        if not still_streaming:
            raise Failure("the stream ended before the gateway was seen draining")
        if stopper.returncode != 0:
            raise Failure(f"podman stop exited {stopper.returncode}: {out}")
        status, code = container_state(podman, name)
        if code != 0:
            raise Failure(f"the container exited {code} (137: killed at the stop timeout):\n"
                          f"{logs(podman, name)}")
        if stop_seconds * 1000 > DRAIN_TIMEOUT_MS:
            raise Failure(f"the gateway took {stop_seconds:.1f} s to exit, past its drain timeout")
        stats = mock.stats()
        log(f"the stream arrived whole ({len(stream.pieces)} pieces, [DONE]); the container "
            f"exited 0 {stop_seconds:.1f} s after podman stop; mock: {stats['streams_completed']} "
            f"stream(s) completed, {stats['streams_aborted']} aborted")
    finally:
        run(podman.cmd("rm", "-f", name), check=False)
        mock.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mock", required=True)
    ap.add_argument("--source-dir", required=True)
    args = ap.parse_args()
    started = time.monotonic()

    if not shutil.which("podman"):
        skip("podman is not installed (scripts/install-deps.sh --test installs it)")
    if os.geteuid() != 0:
        p = run(["podman", "info"], check=False)
        if p.returncode != 0:
            skip(f"rootless podman does not work here: {p.stdout.strip()[-500:]}")
    podman = Podman()
    try:
        ensure_base(podman)
        podman.probe()
        build_image(podman, args.source_dir)
        check_default_image(podman)
        with tempfile.TemporaryDirectory(prefix="switchyard-container-") as workdir:
            # The Kubernetes Deployment's pod: its ConfigMap's config, a read-only root, no
            # capabilities, no privilege gain, writable volumes only for the ledger and /tmp.
            config_dir = os.path.join(workdir, "configmap")
            os.mkdir(config_dir)
            os.chmod(config_dir, 0o755)
            with open(os.path.join(config_dir, "switchyard.yaml"), "w") as f:
                f.write(configmap_config(args.source_dir))
            os.chmod(os.path.join(config_dir, "switchyard.yaml"), 0o644)
            check_default_image(
                podman, "the image as deploy/kubernetes runs it (ConfigMap config, read-only root)",
                args=["--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
                      "--user", "10001:10001", "-v", f"{config_dir}:/etc/switchyard:ro",
                      "--tmpfs", "/var/lib/switchyard:rw,mode=0750,U",
                      "--tmpfs", "/tmp:rw,mode=1777"],
                command=["--config", "/etc/switchyard/switchyard.yaml"],
                reply="Hello from")  # the ConfigMap keeps the mock's own greeting
        with tempfile.TemporaryDirectory(prefix="switchyard-container-") as workdir:
            check_drain(podman, args.mock, workdir)
    except Failure as e:
        log(f"FAIL: {e}")
        return 1
    log(f"PASS in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
