"""`make bench`: every benchmark, each against its baseline in the same run."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

BENCHMARKS = [
    "bench.http_throughput",
    "bench.workers",
    "bench.sync_pool",
    "bench.queue_throughput",
    "bench.timer_jitter",
    "bench.servicebus_trigger",
    "bench.sbemulator_throughput",
    "bench.scale_out",
    "bench.deep_queue",
]


def main() -> None:
    only = sys.argv[1:]
    out = Path(__file__).parent / "last-results.json"
    # `python -m bench <name>` runs the benchmarks whose module name contains <name>; their
    # figures replace theirs in the file and the others' stay.
    results: dict[str, float | str] = json.loads(out.read_text()) if out.exists() else {}
    for name in BENCHMARKS:
        if only and not any(o in name for o in only):
            continue
        print(f"\n== {name}")
        results.update(importlib.import_module(name).main())
    out.write_text(json.dumps(results, indent=2))
    shown = out.relative_to(Path.cwd()) if out.is_relative_to(Path.cwd()) else out
    print(f"\nFigures written to {shown}")


if __name__ == "__main__":
    main()
