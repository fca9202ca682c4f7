"""CPU seconds of each test file, Ray's and TensorFlow's processes included.

`make test` is CPU-bound on 2 cores (its wall time is about the suite's CPU seconds / 2),
so the CPU a file costs, not its wall time, says what a cut would save. Each file runs
alone under its own cgroup (v1 `cpuacct`, which every child process inherits, Ray's
daemons and workers too), two files at a time.

Run: ``python benchmarks/suite_cpu.py [--out FILE] [tests/test_x.py ...]`` as root on a
machine with cgroup v1's cpuacct mounted at /sys/fs/cgroup/cpuacct. Prints the files
by CPU seconds, with their wall time and result; one JSON line a file goes to --out.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CGROUPS = Path("/sys/fs/cgroup/cpuacct")


def cpu_of(test_file: Path) -> dict:
    """Run one test file in a fresh cgroup; its CPU seconds, wall seconds and last line."""
    group = CGROUPS / f"actsearch-{test_file.stem}-{uuid.uuid4().hex[:6]}"
    group.mkdir()
    command = f'echo $$ > {group}/cgroup.procs; exec "$@"'
    pytest = [sys.executable, "-m", "pytest", str(test_file), "-q", "-p", "no:cacheprovider"]
    started = time.monotonic()
    done = subprocess.run(
        ["sh", "-c", command, "sh", *pytest], cwd=ROOT, capture_output=True, text=True, env={**os.environ}
    )
    wall = time.monotonic() - started
    time.sleep(2)  # let Ray's daemons of the file exit
    cpu = int((group / "cpuacct.usage").read_text()) / 1e9
    last = (done.stdout.strip().splitlines() or [""])[-1]
    return {"file": test_file.name, "cpu": round(cpu, 1), "wall": round(wall, 1), "result": last}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path, help="test files (default: all of tests/)")
    parser.add_argument("--out", type=Path, help="one JSON line a file")
    parser.add_argument("--parallel", type=int, default=2, help="files at a time (as make test's workers)")
    args = parser.parse_args()
    if not os.access(CGROUPS, os.W_OK):
        sys.exit(f"error: {CGROUPS} is not writable: run as root on a machine with cgroup v1's cpuacct")
    files = args.files or sorted((ROOT / "tests").glob("test_*.py"))
    with ThreadPoolExecutor(args.parallel) as pool:
        rows = list(pool.map(cpu_of, files))
    if args.out:
        args.out.write_text("".join(json.dumps(row) + "\n" for row in rows))
    rows.sort(key=lambda row: -row["cpu"])
    total = sum(row["cpu"] for row in rows)
    print(f"{'CPU s':>8} {'wall s':>8}  file  (total {total:.0f} CPU s, at least {total / 2:.0f} s on 2 cores)")
    for row in rows:
        print(f"{row['cpu']:8.1f} {row['wall']:8.1f}  {row['file']}  {row['result']}")


if __name__ == "__main__":
    main()
