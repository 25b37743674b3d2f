#!/usr/bin/env python3
"""promtool on the shipped Prometheus files (issue 13): `check rules` on
deploy/prometheus/alerts.yml, `check config` on the example deploy/prometheus/prometheus.yml,
and `test rules` on deploy/prometheus/alerts.test.yml (every alert firing on synthetic series
that should fire it, and silent on series that should not). Fails on any complaint; also
fails when an alert of alerts.yml has no unit test that fires it and one that does not.
Exit 77 (CTest's SKIP) when promtool is not installed (Debian package `prometheus`).

usage: test_alert_rules.py --source-dir DIR
"""
import argparse
import os
import re
import shutil
import subprocess
import sys

SKIP = 77


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--promtool", default=shutil.which("promtool"))
    args = parser.parse_args()
    if not args.promtool:
        print("SKIP: promtool is not installed (Debian package 'prometheus'; "
              "scripts/install-deps.sh --test installs it): the alert rules are NOT checked",
              flush=True)
        return SKIP
    folder = os.path.join(os.path.abspath(args.source_dir), "deploy", "prometheus")
    failures = []
    for command in (["check", "rules", "alerts.yml"], ["check", "config", "prometheus.yml"],
                    ["test", "rules", "alerts.test.yml"]):
        run = subprocess.run([args.promtool, *command], cwd=folder, capture_output=True,
                             text=True, timeout=60)
        output = (run.stdout + run.stderr).strip()
        print(f"$ promtool {' '.join(command)}\n{output}", flush=True)
        # promtool check rules also prints lint warnings while exiting 0.
        if run.returncode != 0 or re.search(r"(?i)\bwarn|FAILED", output):
            failures.append(f"promtool {' '.join(command)} (exit {run.returncode})")

    # Every alert has a case that fires it and one that does not (an empty exp_alerts).
    alerts = re.findall(r"^\s*- alert:\s*(\S+)", open(os.path.join(folder, "alerts.yml")).read(),
                        re.M)
    tests = open(os.path.join(folder, "alerts.test.yml")).read()
    cases = re.findall(r"alertname:\s*(\S+)\s*\n\s*exp_alerts:(\s*\[\])?", tests)
    for alert in alerts:
        if not any(name == alert and not empty for name, empty in cases):
            failures.append(f"alerts.test.yml has no case in which {alert} fires")
        if not any(name == alert and empty for name, empty in cases):
            failures.append(f"alerts.test.yml has no case in which {alert} stays silent")
    if failures:
        print("FAIL:\n  " + "\n  ".join(failures), flush=True)
        return 1
    print(f"{len(alerts)} alerts: checked, and each fires and stays silent in its unit tests")
    return 0


if __name__ == "__main__":
    sys.exit(main())
