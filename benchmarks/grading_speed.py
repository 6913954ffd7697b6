#!/usr/bin/env python
"""How fast submissions are graded: students per hour, before and after, and with 1, 2, 3 workers.

    python benchmarks/grading_speed.py                                  # 4 submissions, 1 and 2 workers
    python benchmarks/grading_speed.py --students 2 --workers 1 2 3 --before 99acb35 --json out.json

Grades N copies of the instructor version of the whole course as committed at HEAD (every notebook,
FAST mode, full points expected, feedback written) with scripts/grade.py, once per entry of --workers (a LocalCluster of that many
single-threaded workers, the whole run pinned with ``taskset`` to min(workers, CPUs) cores, so that
each worker has a core of its own when the machine has enough), and with --before REV, the
grade.py of commit REV (exported with ``git archive``, grading the same notebooks) for comparison.

For each run it prints the wall-clock seconds, the CPU seconds of everything the run started
(the kernels and sandboxes included; they do not depend on what else the machine does), students
per hour from the wall clock, and students per hour that the CPU seconds allow on the cores used
(``cores * 3600 / CPU seconds per student``), the fixed cost (the trusted run of the instructor's
notebooks: once per grading run) apart. Also the machine's load average, since a busy machine
slows the wall clock of every run.
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
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grading import course  # noqa: E402


def timed(cmd: list, cwd: Path, cores: int | None = None) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds of the command and everything it started, its output)."""
    if cores and shutil.which("taskset"):
        cmd = ["taskset", "-c", ",".join(str(c) for c in sorted(os.sched_getaffinity(0))[:cores]), *cmd]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(list(map(str, cmd)), cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-5000:] + result.stderr[-5000:])
        raise SystemExit(f"{cmd} failed with exit status {result.returncode}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, cpu, result.stdout


def full_points(grades: Path) -> int:
    with (grades / "totals.csv").open(encoding="utf-8") as f:
        return sum(1 for t in csv.DictReader(f) if float(t["points"]) == float(t["max_points"]) > 0)


def committed_notebooks(dest: Path) -> list[Path]:
    """The course notebooks as committed at HEAD (work in progress in notebooks/ is left out), in ``dest``."""
    names = subprocess.run(["git", "ls-tree", "--name-only", "HEAD", "notebooks/"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.split()
    dest.mkdir(parents=True)
    for name in names:
        if course.NOTEBOOK_NAME.match(Path(name).name):
            text = subprocess.run(["git", "show", f"HEAD:{name}"], cwd=ROOT, capture_output=True, check=True).stdout
            (dest / Path(name).name).write_bytes(text)
    return course.find_notebooks(dest)


def export(rev: str, dest: Path, notebooks_dir: Path) -> Path:
    """The tree of commit ``rev`` in ``dest``, grading ``notebooks_dir`` (both graders grade the same course)."""
    archive = subprocess.run(["git", "archive", "--format=tar", rev], cwd=ROOT, capture_output=True, check=True).stdout
    dest.mkdir(parents=True)
    tar_path = dest.parent / "before.tar"
    tar_path.write_bytes(archive)
    with tarfile.open(tar_path) as tar:
        tar.extractall(dest)
    shutil.rmtree(dest / "notebooks")
    shutil.copytree(notebooks_dir, dest / "notebooks")
    return dest


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=4)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="LocalCluster sizes to time")
    parser.add_argument("--before", metavar="REV", help="also time the grade.py of this commit (e.g. 99acb35)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell (default: 600)")
    parser.add_argument("--demo", action="store_true",
                        help="grade grading/demo_course.py's one small notebook instead of the course: the fixed cost "
                             "per student (sandbox, imports) and how it scales with workers, in seconds")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if args.students < 1 or any(w < 1 for w in args.workers):
        parser.error("--students and --workers must be >= 1")

    cpus = len(os.sched_getaffinity(0))
    runs = []
    with tempfile.TemporaryDirectory(prefix="vae-course-bench-") as tmp:
        tmp = Path(tmp)
        if args.demo:
            from grading import demo_course

            demo_course.write_course(tmp / "course")
            notebooks = course.find_notebooks(tmp / "course")
            if args.before:
                parser.error("--before grades the whole course only (the old grade.py has no --notebooks)")
        else:
            notebooks = committed_notebooks(tmp / "course")
        subs = tmp / "submissions"
        for k in range(1, args.students + 1):
            folder = subs / f"student{k:02d}"
            folder.mkdir(parents=True)
            for nb in notebooks:
                shutil.copyfile(nb, folder / nb.name)
        plan = []
        if args.before:
            plan.append(("before", args.before, min(2, cpus)))
        plan += [("after", w, w) for w in args.workers]
        for kind, what, workers in plan:
            out, work = tmp / f"grades-{kind}-{what}", tmp / f"work-{kind}-{what}"
            cores = min(workers, cpus)
            load = os.getloadavg()[0]
            if kind == "before":
                tree = export(what, tmp / "before", tmp / "course")
                cmd = [sys.executable, tree / "scripts" / "grade.py", subs, "--output", out, "--workdir", work,
                       "--timeout", args.timeout, "--jobs", workers,
                       "--release-manifest", tmp / "none.json"]
                seconds, cpu, stdout = timed(cmd, tree, cores)
                fixed = 0.0
                label = f"before ({what}: nbgrader, {workers} jobs)"
            else:
                cmd = [sys.executable, ROOT / "scripts" / "grade.py", subs, "--output", out, "--workdir", work,
                       "--timeout", args.timeout, "--workers", workers, "--restart", "--notebooks", tmp / "course",
                       "--release-manifest", tmp / "none.json"]
                seconds, cpu, stdout = timed(cmd, ROOT, cores)
                fixed = next((float(line.split(":")[1].split()[0]) for line in stdout.splitlines()
                              if line.startswith("trusted run of the instructor's notebooks:")), 0.0)
                label = f"after (sandbox, Dask, {workers} worker{'s' if workers > 1 else ''})"
            full = full_points(out)
            breakdown = {}
            if (out / "timings.jsonl").is_file():      # where the time of each student went (grade.py writes it)
                rows = [json.loads(line) for line in (out / "timings.jsonl").read_text().splitlines() if line]
                mean = lambda key: round(sum(r.get(key) or 0 for r in rows) / max(len(rows), 1), 1)  # noqa: E731
                cells = round(sum(sum(r["cells_seconds"].values()) for r in rows) / max(len(rows), 1), 1)
                breakdown = {"student_seconds": mean("seconds"), "sandbox_seconds": mean("sandbox_seconds"),
                             "warm_imports_seconds": mean("preload_seconds"), "notebook_cells_seconds": cells,
                             "judging_feedback_seconds": mean("judge_and_feedback_seconds"),
                             "sandbox_cpu_seconds": mean("sandbox_cpu_seconds")}
            run = {"run": label, "workers": workers, "cores": cores, "students": args.students,
                   "students_with_full_points": full, "wall_seconds": round(seconds, 1), "cpu_seconds": round(cpu, 1),
                   "trusted_run_seconds": fixed,
                   "students_per_hour_wall": round(args.students * 3600 / seconds, 1),
                   "students_per_hour_wall_without_fixed_cost": round(args.students * 3600 / max(seconds - fixed, 1e-9), 1),
                   "cpu_seconds_per_student": round(cpu / args.students, 1),
                   "students_per_hour_from_cpu_on_these_cores": round(cores * 3600 * args.students / cpu, 1),
                   "load_average_1min_before": round(load, 1), "per_student_breakdown": breakdown}
            runs.append(run)
            print(f"{label}: {seconds:.0f} s wall, {cpu:.0f} CPU s for {args.students} students on {cores} core(s) "
                  f"({full}/{args.students} full points): {run['students_per_hour_wall']} students/hour by the clock "
                  f"({run['students_per_hour_wall_without_fixed_cost']} without the trusted run of {fixed:.0f} s), "
                  f"{run['students_per_hour_from_cpu_on_these_cores']} by CPU time; load average {load:.1f}", flush=True)
            if breakdown:
                print(f"    per student (wall s): {breakdown}", flush=True)
    result = {"runs": runs, "cpus": cpus, "notebooks": len(notebooks), "python": platform.python_version(),
              "machine": platform.machine()}
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return 0 if all(r["students_with_full_points"] == r["students"] for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
