"""Driving HTTP load with wrk, the native load generator (Debian's package; `make bench`
installs it), reading its summary through bench/wrk_summary.lua."""

from __future__ import annotations

import json
import re
import resource
import shutil
import subprocess

from bench.loadgen import HttpFigures
from bench.procs import ROOT

SCRIPT = ROOT / "bench" / "wrk_summary.lua"


def find_wrk() -> str | None:
    return shutil.which("wrk")


def version(exe: str) -> str:
    # `wrk -v` prints its banner and exits 1; the first line names the version.
    out = subprocess.run([exe, "-v"], capture_output=True, text=True, check=False).stdout
    return out.splitlines()[0].split(" Copyright")[0] if out else "wrk"


def run_wrk(exe: str, url: str, *, threads: int, connections: int, seconds: float) -> HttpFigures:
    """One wrk run; its CPU time is read from this process's reaped-children usage (wrk is
    the only child that ends during the run)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    argv = [
        exe,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "--timeout",
        "5s",
        "-s",
        str(SCRIPT),
        url,
    ]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    found = re.search(r"^WRK_SUMMARY (\{.*\})$", done.stdout, re.MULTILINE)
    if done.returncode != 0 or found is None:
        raise RuntimeError(
            f"wrk failed (exit {done.returncode}) against {url}:\n{done.stdout}{done.stderr}"
        )
    s = json.loads(found.group(1))
    duration = s["duration_us"] / 1e6
    return HttpFigures(
        rps=s["requests"] / duration,
        p50_ms=s["p50_us"] / 1000,
        p99_ms=s["p99_us"] / 1000,
        errors=s["connect"] + s["read"] + s["write"] + s["status"] + s["timeout"],
        client_cpu_s=(after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        seconds=duration,
    )
