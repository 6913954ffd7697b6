#!/usr/bin/env python
"""How long releasing and grading take.

    python benchmarks/grading_speed.py                 # 10 submissions, FAST mode
    python benchmarks/grading_speed.py --students 4 --jobs 2

Times ``scripts/release.py`` (what ``make student`` runs) and ``scripts/grade.py`` on N copies
of the instructor version of the whole course (every notebook, full points expected), in a
temporary folder. Prints the wall-clock and CPU seconds (CPU seconds do not depend on what else
the machine is doing), the machine, and the exercises and points per notebook,
and writes them as JSON with --json.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grading import course  # noqa: E402


def timed(cmd: list) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the command and everything it started: nbgrader, kernels)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run([sys.executable, *map(str, cmd)], cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"{cmd[0]} failed with exit status {result.returncode}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, cpu


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=None, help="passed to grade.py (default: its own)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell (default: 600)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if args.students < 1:
        parser.error("--students must be >= 1")

    notebooks = course.find_notebooks()
    table = {nb.stem: course.exercises_of(nb) for nb in notebooks}
    with tempfile.TemporaryDirectory(prefix="vae-course-bench-") as tmp:
        tmp = Path(tmp)
        release_s, release_cpu = timed([ROOT / "scripts" / "release.py", "--output", tmp / "release"])
        subs = tmp / "submissions"
        for k in range(1, args.students + 1):
            folder = subs / f"student{k:02d}"
            folder.mkdir(parents=True)
            for nb in notebooks:
                shutil.copyfile(nb, folder / nb.name)
        cmd = [ROOT / "scripts" / "grade.py", subs, "--output", tmp / "grades", "--workdir", tmp / "work",
               "--timeout", args.timeout, "--release-manifest", tmp / "release" / "release.json"]
        if args.jobs:
            cmd += ["--jobs", args.jobs]
        grade_s, grade_cpu = timed(cmd)
        with (tmp / "grades" / "totals.csv").open(encoding="utf-8") as f:
            totals = list(csv.DictReader(f))
    full = sum(1 for t in totals if float(t["points"]) == float(t["max_points"]) > 0)

    result = {
        "release_seconds": round(release_s, 1),
        "grade_seconds": round(grade_s, 1),
        "release_cpu_seconds": round(release_cpu, 1),
        "grade_cpu_seconds": round(grade_cpu, 1),
        "students": args.students,
        "students_with_full_points": full,
        "notebooks": len(notebooks),
        "jobs": args.jobs or "default",
        "cpus": os.cpu_count(),
        "load_average_1min_after": round(os.getloadavg()[0], 1),
        "python": platform.python_version(),
        "exercises": {stem: {"count": len(exs), "points": sum(e.points for e in exs)} for stem, exs in table.items()},
    }
    print(f"make student (release.py): {release_s:.1f} s ({release_cpu:.1f} CPU s) for {len(notebooks)} notebooks")
    print(f"grade.py, {args.students} submissions of the whole course, FAST: {grade_s:.1f} s, {grade_cpu:.0f} CPU s "
          f"({grade_s / args.students:.1f} s per submission; {full}/{args.students} with full points)")
    print(f"machine: {os.cpu_count()} CPUs, load average now {os.getloadavg()[0]:.1f}")
    print(f"{'notebook':<36} {'exercises':>9} {'points':>7}")
    for stem, info in result["exercises"].items():
        print(f"{stem:<36} {info['count']:>9} {info['points']:>7g}")
    print(f"{'total':<36} {sum(i['count'] for i in result['exercises'].values()):>9} "
          f"{sum(i['points'] for i in result['exercises'].values()):>7g}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return 0 if full == args.students else 1


if __name__ == "__main__":
    sys.exit(main())
