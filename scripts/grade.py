#!/usr/bin/env python
"""Autograde collected submissions, each notebook in a sandbox, on Dask (``make grade SUBMISSIONS=path``).

    python scripts/grade.py SUBMISSIONS [--scheduler tcp://host:8786] [--workers N] [--timeout 120]
                            [--full] [--no-feedback] [--show-hidden] [--no-sandbox] [--restart]

SUBMISSIONS holds one folder per student, named by the student's id, with the student's
notebooks in it (``alice/00_start_here.ipynb``...; sub-folders are searched, so a returned
copy of the hand-out folder works too; a ``alice.zip`` is unpacked as ``alice/``).

What happens (the README's "Teaching with this course" explains the design):
1. the test cells of notebooks/ are split (grading/checks.py): a sandboxed copy that only sends the
   values under test out, and a reference copy that computes the expected values;
2. the trusted run: the instructor's notebooks run once, in the sandbox, with the reference copies;
   a model answer that fails its own test stops grading here;
3. one Dask task per student: the coordinator reads the student's notebooks (outputs dropped) and
   sends their text; the worker runs them in ONE bubblewrap sandbox (no network, no files but the
   cells, read-only Python and package copy, limits on memory, processes, CPU, files), judges every
   check against the expected values in its own process, and returns the student's rows and feedback.
   Without --scheduler a LocalCluster of --workers processes (default: one per CPU) runs the tasks;
   a worker that dies has its students graded again elsewhere, each counted once;
4. the coordinator appends each student's rows to grades.csv and totals.csv as soon as they come
   back: a killed run keeps what it finished, and running the same command again resumes
   (--restart starts over).

Outputs (--output, default build/grades/):
    grades.csv    student, notebook, grade_id, points, max_points, status: one row per exercise
                  and student, then one row per student with notebook ALL, grade_id TOTAL
    totals.csv    student, points, max_points, notebooks_graded, notebooks_expected, sandbox, problems
    feedback/<student>/<notebook>.html   the student's cells, and per test its visible messages and
                  points (hidden tests: only how many checks passed, unless --show-hidden)
Status of a notebook: graded (ran to the end), incomplete (stopped early: the tests that ran count),
missing (not submitted), unreadable (not a notebook), failed (the grader could not run it).
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import re
import shutil
import sys
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grading import course, pipeline, sandbox  # noqa: E402

STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]*$")
MARKER = ".vae-course-grading"
STATE = ".grading-state.json"
CSV_COLUMNS = ["student", "notebook", "grade_id", "points", "max_points", "status"]
TOTAL_COLUMNS = ["student", "points", "max_points", "notebooks_graded", "notebooks_expected", "sandbox", "problems"]


def say(*args) -> None:
    print(*args, flush=True)


@dataclass
class Student:
    """A student's submission: the notebooks found, and what was wrong with the others."""

    id: str
    folder: Path
    files: dict = field(default_factory=dict)      # notebook name (NN_x.ipynb) -> Path
    status: dict = field(default_factory=dict)     # notebook name -> "missing" / "unreadable"
    problems: list = field(default_factory=list)


# ----------------------------------------------------------------------------- submissions


def _safe_extract(zip_path: Path, dest: Path) -> None:
    """Unpack a zip, refusing members that would land outside ``dest``."""
    dest = dest.resolve()
    with zipfile.ZipFile(zip_path) as zf:
        for member in zf.infolist():
            target = (dest / member.filename).resolve()
            if dest != target and dest not in target.parents:
                raise ValueError(f"unsafe path in {zip_path.name}: {member.filename}")
        zf.extractall(dest)


def find_students(submissions: Path, unzip_dir: Path) -> tuple[list[Student], list[str]]:
    """One Student per folder (or .zip) of ``submissions``; and the entries that were skipped, with why."""
    students, skipped = [], []
    for entry in sorted(submissions.iterdir()):
        if entry.name.startswith((".", "_")):
            continue
        if entry.is_file() and entry.suffix.lower() == ".zip":
            name, folder = entry.stem, unzip_dir / entry.stem
            try:
                _safe_extract(entry, folder)
            except (zipfile.BadZipFile, ValueError, OSError) as err:
                skipped.append(f"{entry.name}: cannot unpack ({err})")
                continue
        elif entry.is_dir():
            name, folder = entry.name, entry
        else:
            skipped.append(f"{entry.name}: not a folder or a .zip (put each student's notebooks in a folder)")
            continue
        if not STUDENT_ID.match(name):
            skipped.append(f"{entry.name}: a student id may hold only letters, digits and . _ @ + -")
            continue
        if any(s.id == name for s in students):
            skipped.append(f"{entry.name}: a second submission of student {name}")
            continue
        students.append(Student(id=name, folder=folder))
    return students, skipped


def locate_notebooks(student: Student, expected: list[str], max_bytes: int) -> None:
    """Fill ``student.files`` / ``student.status`` with the expected notebooks found in their folder."""
    found: dict[str, list[Path]] = {}
    for path in student.folder.rglob("*.ipynb"):
        rel = path.relative_to(student.folder)
        if any(part.startswith(".") for part in rel.parts):   # .ipynb_checkpoints and hidden folders
            continue
        found.setdefault(path.name, []).append(path)
    for name in expected:
        candidates = sorted(found.get(name, []), key=lambda p: (len(p.parts), str(p)))
        if not candidates:
            student.status[name] = "missing"
            continue
        if len(candidates) > 1:
            student.problems.append(f"{name}: {len(candidates)} copies, graded {candidates[0].relative_to(student.folder)}")
        path = candidates[0]
        if path.stat().st_size > max_bytes:
            student.status[name] = "unreadable"
            student.problems.append(f"{name}: larger than {max_bytes // 2**20} MiB")
            continue
        student.files[name] = path
    extra = sorted(set(found) - set(expected))
    if extra:
        student.problems.append(f"ignored files that are not course notebooks: {', '.join(extra)}")


def check_release_manifest(manifest: Path, notebooks: list[Path]) -> None:
    """Warn when the notebooks changed since the student version was released."""
    if not manifest.is_file():
        return
    released = json.loads(manifest.read_text(encoding="utf-8")).get("notebooks", {})
    changed = [nb.stem for nb in notebooks
               if nb.stem in released and released[nb.stem].get("source_sha256") != hashlib.sha256(nb.read_bytes()).hexdigest()]
    new = [nb.stem for nb in notebooks if nb.stem not in released]
    if changed or new:
        say(f"WARNING: notebooks/ differs from the release recorded in {manifest}: "
            f"changed {changed or 'none'}, not released {new or 'none'}. Grading uses the tests of notebooks/ now.")


def prepare_workdir(workdir: Path) -> None:
    """Create ``workdir`` (scratch folders, the package copy); refuse a folder grade.py did not make."""
    if workdir.exists() and any(workdir.iterdir()) and not (workdir / MARKER).exists():
        raise SystemExit(f"{workdir} exists and was not made by grade.py; choose another --workdir")
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / MARKER).write_text("made by scripts/grade.py: scratch folders and the package copy of grading\n")


# ----------------------------------------------------------------------------- the reports


class Reports:
    """grades.csv, totals.csv and feedback/, written one student at a time (flushed to disk) and resumable."""

    def __init__(self, output: Path, fingerprint: str, restart: bool):
        self.output = output
        output.mkdir(parents=True, exist_ok=True)
        state = output / STATE
        grades, totals = output / "grades.csv", output / "totals.csv"
        same = state.is_file() and json.loads(state.read_text(encoding="utf-8")).get("fingerprint") == fingerprint
        self.done: set = set()
        if same and not restart and totals.is_file() and grades.is_file():
            with totals.open(encoding="utf-8", newline="") as f:
                self.done = {r["student"] for r in csv.DictReader(f)}
            with grades.open(encoding="utf-8", newline="") as f:
                rows = [r for r in csv.reader(f)][1:]
            kept = [r for r in rows if r and r[0] in self.done]      # rows of a student cut off mid-write go
            with grades.open("w", encoding="utf-8", newline="") as f:
                csv.writer(f).writerows([CSV_COLUMNS, *kept])
        else:
            for stale in (grades, totals, output / "timings.jsonl"):
                stale.unlink(missing_ok=True)
            shutil.rmtree(output / "feedback", ignore_errors=True)
            with grades.open("w", encoding="utf-8", newline="") as f:
                csv.writer(f).writerow(CSV_COLUMNS)
            with totals.open("w", encoding="utf-8", newline="") as f:
                csv.writer(f).writerow(TOTAL_COLUMNS)
        state.write_text(json.dumps({"fingerprint": fingerprint}) + "\n", encoding="utf-8")

    def write(self, result: pipeline.StudentResult, n_expected: int, extra_problems: list) -> dict:
        if result.student in self.done:
            return {}
        points = sum(r[2] for r in result.rows)
        max_points = sum(r[3] for r in result.rows)
        for row in result.rows:
            if not 0 <= row[2] <= row[3]:
                raise AssertionError(f"{result.student} {row[0]} {row[1]}: {row[2]} points of {row[3]}")
        graded = sum(1 for s in result.status.values() if s == "graded")
        target = self.output / "feedback" / result.student
        if result.feedback:
            target.mkdir(parents=True, exist_ok=True)
            for name, page in result.feedback.items():
                (target / f"{name}.html").write_text(page, encoding="utf-8")
        with (self.output / "grades.csv").open("a", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            for nb, gid, p, m, status in result.rows:
                writer.writerow([result.student, nb, gid, f"{p:g}", f"{m:g}", status])
            writer.writerow([result.student, "ALL", "TOTAL", f"{points:g}", f"{max_points:g}",
                             f"graded {graded}/{n_expected}"])
            f.flush()
            os.fsync(f.fileno())
        total = {"student": result.student, "points": f"{points:g}", "max_points": f"{max_points:g}",
                 "notebooks_graded": graded, "notebooks_expected": n_expected,
                 "sandbox": "bwrap" if result.sandboxed else "NONE (--no-sandbox)",
                 "problems": "; ".join(extra_problems + result.problems)}
        with (self.output / "totals.csv").open("a", encoding="utf-8", newline="") as f:
            csv.DictWriter(f, fieldnames=TOTAL_COLUMNS).writerow(total)
            f.flush()
            os.fsync(f.fileno())
        with (self.output / "timings.jsonl").open("a", encoding="utf-8") as f:
            f.write(json.dumps({"student": result.student, "seconds": round(result.seconds, 2), **result.timing}) + "\n")
        self.done.add(result.student)
        return total


def failed_result(student: str, courseobj: pipeline.Course, why: str, sandboxed: bool) -> pipeline.StudentResult:
    rows = [[name, gid, 0.0, t.points, "failed"] for name, nb in courseobj.notebooks.items() for gid, t in nb.tests.items()]
    return pipeline.StudentResult(student, rows, {n: "failed" for n in courseobj.notebooks}, [why], {}, 0.0, sandboxed)


# ----------------------------------------------------------------------------- the cluster


def make_client(scheduler: str | None, workers: int):
    """A Dask client: to the scheduler given, else to a LocalCluster of ``workers`` single-threaded processes."""
    from dask.distributed import Client, LocalCluster

    if scheduler:
        return Client(scheduler, timeout="30s"), None
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                           memory_limit=0, host="127.0.0.1", silence_logs=40)
    return Client(cluster), cluster


def grade_all(client, students: list, texts: dict, courseobj: pipeline.Course, options: pipeline.Options,
              reports: Reports, extra: dict) -> list:
    """Submit one task per student; write each student's rows as their task comes back."""
    from dask.distributed import as_completed

    course_future = client.scatter(courseobj, broadcast=True)
    futures = {}
    for sid in students:
        fut = client.submit(pipeline.grade_student, sid, texts[sid], course_future, options,
                            key=f"grade-{sid}-{courseobj.package_hash}-{time.time_ns()}", retries=2, pure=False)
        futures[fut] = sid
    totals = []
    for fut in as_completed(futures):
        sid = futures[fut]
        try:
            result = fut.result()
        except Exception as err:  # noqa: BLE001  (a student the cluster could not grade still gets rows)
            result = failed_result(sid, courseobj, f"grading failed: {type(err).__name__}: {str(err)[:300]}",
                                   options.sandbox)
        total = reports.write(result, len(courseobj.notebooks), extra.get(sid, []))
        if total:
            totals.append(total)
            say(f"  {sid}: {total['points']}/{total['max_points']} points, {total['notebooks_graded']}/"
                f"{total['notebooks_expected']} notebooks graded in {result.seconds:.0f} s")
    return totals


def run_reference(client, courseobj: pipeline.Course, options: pipeline.Options) -> dict:
    """The trusted run, one task per notebook, so that the workers share it."""
    futures = [client.submit(pipeline.reference_run, courseobj, options, [name], pure=False,
                             key=f"reference-{name}-{time.time_ns()}") for name in courseobj.notebooks]
    reference = {}
    for fut in futures:
        reference.update(fut.result())
    return reference


def fingerprint(courseobj: pipeline.Course, options: pipeline.Options) -> str:
    digest = hashlib.sha256(courseobj.package_hash.encode())
    for name, nb in courseobj.notebooks.items():
        digest.update(name.encode())
        for cell in nb.cells:
            digest.update(cell["source"].encode())
    digest.update(repr((options.fast, options.sandbox, options.cell_timeout, options.notebook_timeout,
                        options.limits, options.show_hidden)).encode())
    return digest.hexdigest()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("submissions", type=Path, help="folder with one sub-folder (or .zip) per student")
    parser.add_argument("--output", type=Path, default=ROOT / "build" / "grades", help="default: build/grades/")
    parser.add_argument("--workdir", type=Path, default=ROOT / "build" / "grading",
                        help="scratch folders and the package copy (default: build/grading/)")
    parser.add_argument("--scheduler", default=os.environ.get("SCHEDULER") or None,
                        help="address of a Dask scheduler (tcp://host:8786); default: a LocalCluster here")
    parser.add_argument("--workers", "--jobs", dest="workers", type=int, default=None,
                        help="LocalCluster worker processes, one student each at a time (default: CPU count)")
    parser.add_argument("--timeout", type=float, default=120, help="seconds one cell may run (default: 120)")
    parser.add_argument("--notebook-timeout", type=float, default=1800,
                        help="seconds one notebook may take in all (default: 1800)")
    parser.add_argument("--memory-mb", type=int, default=4096, help="memory limit of a sandbox (default: 4096)")
    parser.add_argument("--full", action="store_true",
                        help="run the notebooks in the default mode instead of VAE_COURSE_FAST=1")
    parser.add_argument("--notebooks", type=Path, default=course.NOTEBOOKS_DIR,
                        help="the instructor's notebooks NN_*.ipynb (default: notebooks/)")
    parser.add_argument("--only", nargs="+", metavar="PREFIX", help="grade only notebooks starting with these")
    parser.add_argument("--no-feedback", action="store_true", help="skip the feedback HTML pages")
    parser.add_argument("--show-hidden", action="store_true", help="feedback shows the hidden tests' messages too")
    parser.add_argument("--no-sandbox", action="store_true",
                        help="run student code WITHOUT bubblewrap (no isolation: trusted submissions only)")
    parser.add_argument("--restart", action="store_true", help="start over instead of resuming an interrupted run")
    parser.add_argument("--max-notebook-mb", type=float, default=50, help="larger files are not graded (default: 50)")
    parser.add_argument("--release-manifest", type=Path, default=ROOT / "release" / "release.json",
                        help="release.json written by release.py, to warn about notebooks changed since")
    args = parser.parse_args(argv)
    if args.timeout <= 0 or args.notebook_timeout <= 0 or args.memory_mb < 256:
        parser.error("--timeout and --notebook-timeout must be > 0 and --memory-mb at least 256")
    if args.workers is not None and args.workers < 1:
        parser.error("--workers must be >= 1")

    start = time.perf_counter()
    submissions = args.submissions.resolve()
    if not submissions.is_dir():
        parser.error(f"SUBMISSIONS={args.submissions} is not a folder")
    if args.no_sandbox:
        say("WARNING: --no-sandbox: student code runs as you, with your files and network (totals.csv says so)")
    else:
        problem = sandbox.bwrap_problem()
        if problem:
            raise SystemExit(f"cannot grade in a sandbox: {problem}.\nTo fix: {sandbox.INSTALL_HINT}.")
    notebooks = course.find_notebooks(args.notebooks)
    if args.only:
        notebooks = [p for p in notebooks if any(p.name.startswith(x) for x in args.only)]
    if not notebooks:
        raise SystemExit(f"no notebooks in {args.notebooks}" + (f" starting with {args.only}" if args.only else ""))
    check_release_manifest(args.release_manifest, notebooks)
    try:
        courseobj = pipeline.Course.from_notebooks(notebooks)
    except ValueError as err:
        raise SystemExit(f"a test cell does not follow the convention of the README: {err}")

    workdir, output = args.workdir.resolve(), args.output.resolve()
    prepare_workdir(workdir)
    students, skipped = find_students(submissions, workdir / "unzipped")
    for line in skipped:
        say(f"skipped {line}")
    if not students:
        raise SystemExit(f"no student folders in {submissions}")
    options = pipeline.Options(cell_timeout=args.timeout, notebook_timeout=args.notebook_timeout, fast=not args.full,
                               sandbox=not args.no_sandbox, limits=sandbox.Limits(memory_mb=args.memory_mb),
                               show_hidden=args.show_hidden, workdir=str(workdir))
    reports = Reports(output, fingerprint(courseobj, options), args.restart)
    pipeline.package_dir(courseobj, options)    # the package copy, built once here rather than by every local worker
    texts, extra = {}, {}
    max_bytes = int(args.max_notebook_mb * 2**20)
    for s in students:
        locate_notebooks(s, [nb.name for nb in notebooks], max_bytes)
        texts[s.id] = {Path(name).stem: pipeline.encode_submission(path, max_bytes) for name, path in s.files.items()}
        for name, status in s.status.items():
            texts[s.id][Path(name).stem] = status
        extra[s.id] = s.problems
    todo = [s.id for s in students if s.id not in reports.done]
    if len(todo) < len(students):
        say(f"resuming: {len(students) - len(todo)} student(s) already graded in {output} (--restart to redo them)")
    workers = args.workers or os.cpu_count() or 1
    client, cluster = make_client(args.scheduler, workers)
    try:
        n_workers = len(client.scheduler_info().get("workers", {}))
        say(f"grading {len(todo)} student(s), {len(notebooks)} notebook(s) each, on {n_workers} Dask worker(s) "
            f"({args.scheduler or 'LocalCluster'}), {'default mode' if args.full else 'VAE_COURSE_FAST=1'}, "
            f"{args.timeout:g} s per cell, {'NO SANDBOX' if args.no_sandbox else 'bubblewrap sandbox'}")
        t0 = time.perf_counter()
        try:
            courseobj.reference = run_reference(client, courseobj, options)
        except pipeline.ReferenceError as err:
            raise SystemExit(str(err))
        say(f"trusted run of the instructor's notebooks: {time.perf_counter() - t0:.1f} s")
        if args.no_feedback:
            options = pipeline.Options(**{**options.__dict__, "show_hidden": False})
        grade_all(client, todo, texts, courseobj, options, reports, extra)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    if args.no_feedback:
        shutil.rmtree(output / "feedback", ignore_errors=True)
    with (output / "totals.csv").open(encoding="utf-8", newline="") as f:
        totals = list(csv.DictReader(f))
    say(f"\n{'student':<24} {'points':>8} {'max':>6}  problems")
    for t in totals:
        say(f"{t['student']:<24} {t['points']:>8} {t['max_points']:>6}  {t['problems'][:200]}")
    say(f"\ngrades:   {output / 'grades.csv'} (per exercise), {output / 'totals.csv'} (per student)")
    if not args.no_feedback:
        say(f"feedback: {output / 'feedback'}/<student>/<notebook>.html")
    say(f"graded {len(todo)} student(s) in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
