#!/usr/bin/env python
"""Autograde collected submissions with nbgrader (``make grade SUBMISSIONS=path``).

    python scripts/grade.py SUBMISSIONS [--timeout 120] [--jobs 2] [--full] [--no-feedback]

SUBMISSIONS holds one folder per student, named by the student's id, with the student's
notebooks in it (``alice/00_start_here.ipynb``...; sub-folders are searched, so a returned
copy of the hand-out folder works too; a ``alice.zip`` is unpacked as ``alice/``).

What happens:
1. an nbgrader course folder is built in build/grading/ from notebooks/ (generate_assignment:
   this records the test cells, their checksums and the hidden tests in a gradebook);
2. each student's notebooks are checked (a file that is not a readable notebook counts as not
   submitted), their nbgrader cells are put back in the released shape (metadata, missing
   test cells, copies: see normalize_nbgrader_cells) and they are copied to
   build/grading/submitted/<student>/vae-course/;
3. nbgrader autograde runs each student's notebooks in a fresh kernel, with the locked test
   cells restored from the gradebook (edited or deleted tests come back, hidden tests
   included), VAE_COURSE_FAST=1 (unless --full) and a time limit per cell (--timeout);
   students are graded in parallel (--jobs), each in its own process and gradebook copy, and a
   notebook that nbgrader cannot grade is retried alone so that it costs only its own points;
4. nbgrader generate_feedback writes one HTML page per notebook and student.

Outputs (--output, default build/grades/):
    grades.csv    student, notebook, grade_id, points, max_points, status: one row per exercise
                  and student, then one row per student with notebook ALL, grade_id TOTAL
    totals.csv    student, points, max_points, notebooks_graded, notebooks_expected, problems
    feedback/<student>/<notebook>.html
Logs of every nbgrader run: build/grading/logs/<student>.log.
Status of a notebook: graded, missing (not submitted), unreadable (not a notebook),
failed (nbgrader could not grade it: see the log); anything but graded scores 0.
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
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grading import course  # noqa: E402

STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]*$")
MARKER = ".vae-course-grading"
CSV_COLUMNS = ["student", "notebook", "grade_id", "points", "max_points", "status"]
_print_lock = threading.Lock()


def say(*args) -> None:
    with _print_lock:
        print(*args, flush=True)


@dataclass
class Student:
    """A student's submission: the notebooks found, and what was wrong with the others."""

    id: str
    folder: Path
    files: dict = field(default_factory=dict)      # notebook name (NN_x.ipynb) -> Path
    status: dict = field(default_factory=dict)     # notebook name -> "missing" / "unreadable" / "graded" / "failed"
    problems: list = field(default_factory=list)
    seconds: float = 0.0


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


def _grade_id(cell):
    meta = cell.get("metadata", {}).get("nbgrader")
    return meta.get("grade_id") if isinstance(meta, dict) else None


def normalize_nbgrader_cells(nb, released) -> list[str]:
    """Put the nbgrader metadata of a submission back in the shape nbgrader expects; return what was changed.

    nbgrader 0.9 restores edited test cells itself, but it crashes on some things students do
    to a notebook, and the whole notebook would then score 0. Before nbgrader sees it:
    - the nbgrader metadata of every known cell is the released one (points, locked, grade...);
    - a copy of a cell (same grade_id twice: the last copy is kept) or a cell with an unknown or
      missing grade_id loses its nbgrader metadata and becomes an ordinary cell;
    - a test cell that is missing is put back (the released cell; nbgrader then restores its
      hidden tests) after the nearest cell of the release that is still there, else at the end.
    Solution cells that are missing are not put back: the answer may live in another cell.
    """
    import copy as _copy

    ref_cells = [c for c in released.cells if _grade_id(c)]
    ref = {_grade_id(c): c for c in ref_cells}
    notes, seen = [], set()
    for cell in reversed(nb.cells):
        if "nbgrader" not in cell.get("metadata", {}):
            continue
        gid = _grade_id(cell)
        if gid not in ref or gid in seen:
            del cell.metadata["nbgrader"]
            notes.append(f"cell with grade_id {gid!r} " + ("copied: only the last copy counts" if gid in seen else "unknown: made ordinary"))
            continue
        seen.add(gid)
        if dict(cell.metadata["nbgrader"]) != dict(ref[gid].metadata["nbgrader"]):
            if any(cell.metadata["nbgrader"].get(k) != ref[gid].metadata["nbgrader"].get(k)
                   for k in ("grade", "solution", "locked", "points", "task")):
                notes.append(f"{gid}: nbgrader metadata edited, restored")
            cell.metadata["nbgrader"] = _copy.deepcopy(ref[gid].metadata["nbgrader"])
    notes.reverse()  # notebook order
    for k, ref_cell in enumerate(ref_cells):
        gid = _grade_id(ref_cell)
        if gid in seen or not ref_cell.metadata["nbgrader"].get("grade"):
            continue
        position = len(nb.cells)
        for previous in reversed(ref_cells[:k]):
            idx = next((i for i, c in enumerate(nb.cells) if _grade_id(c) == _grade_id(previous)), None)
            if idx is not None:
                position = idx + 1
                break
        nb.cells.insert(position, _copy.deepcopy(ref_cell))
        seen.add(gid)
        notes.append(f"{gid}: test cell missing, put back")
    return notes


def copy_submission(student: Student, dest: Path, released_dir: Path) -> None:
    """Read each notebook with nbformat, normalize its nbgrader cells and write it to ``dest``.

    A file that cannot be read as a notebook is 'unreadable' (and not graded).
    """
    import nbformat

    dest.mkdir(parents=True, exist_ok=True)
    for name, path in list(student.files.items()):
        try:
            nb = nbformat.read(path, as_version=4)
            if not isinstance(nb.get("cells"), list):
                raise ValueError("no list of cells")
            for cell in nb.cells:
                if cell.get("cell_type") == "code":
                    cell.setdefault("outputs", [])
                    cell.setdefault("execution_count", None)
                meta = cell.setdefault("metadata", {})
                if "nbgrader" in meta and not isinstance(meta["nbgrader"], dict):
                    del meta["nbgrader"]
            notes = normalize_nbgrader_cells(nb, nbformat.read(released_dir / name, as_version=4))
            nbformat.write(nb, dest / name)
        except Exception as err:  # any reason: the file is not a notebook we can grade
            student.status[name] = "unreadable"
            student.problems.append(f"{name}: not a readable notebook ({type(err).__name__}: {str(err)[:200]})")
            del student.files[name]
            (dest / name).unlink(missing_ok=True)
            continue
        if notes:
            student.problems.append(f"{name}: " + "; ".join(notes))
    timestamp = student.folder / "timestamp.txt"
    if timestamp.is_file():
        shutil.copyfile(timestamp, dest / "timestamp.txt")


# ----------------------------------------------------------------------------- grading


@dataclass
class Context:
    root: Path
    env: dict
    timeout: int
    notebook_timeout: float
    feedback: bool
    output: Path


def grade_student(student: Student, ctx: Context) -> Student:
    """Autograde one student's notebooks and write their feedback; fills ``student.status``."""
    start = time.monotonic()
    db = ctx.root / "gradebooks" / f"{student.id}.db"
    shutil.copyfile(ctx.root / "gradebook.db", db)
    log = ctx.root / "logs" / f"{student.id}.log"
    autograded = ctx.root / "autograded" / student.id / course.ASSIGNMENT
    common = [f"--student={student.id}", "--force", f"--Execute.timeout={ctx.timeout}"]
    names = sorted(student.files)

    def graded() -> set:
        return {n for n in names if (autograded / n).is_file()}

    if names:
        status, _ = course.run_nbgrader(["autograde", course.ASSIGNMENT, *common], ctx.root, ctx.env, log=log,
                                        timeout=ctx.notebook_timeout * len(names), db=db)
        left = [n for n in names if n not in graded()]
        if left:
            student.problems.append(f"nbgrader stopped on the whole submission (exit status {status}); "
                                    f"grading {len(left)} notebook(s) one by one")
        why = {}
        for name in left:
            _, out = course.run_nbgrader(["autograde", course.ASSIGNMENT, *common, f"--notebook={Path(name).stem}"],
                                         ctx.root, ctx.env, log=log, timeout=ctx.notebook_timeout, db=db)
            why[name] = failure_reason(out)
        done = graded()
        for name in names:
            student.status[name] = "graded" if name in done else "failed"
            if name not in done:
                student.problems.append(f"{name}: nbgrader could not grade it{why.get(name, '')} (see {log})")
        if done and ctx.feedback:
            status, _ = course.run_nbgrader(["generate_feedback", course.ASSIGNMENT, f"--student={student.id}", "--force"],
                                            ctx.root, ctx.env, log=log, timeout=ctx.notebook_timeout, db=db)
            pages = sorted((ctx.root / "feedback" / student.id / course.ASSIGNMENT).glob("*.html"))
            if status != 0 or len(pages) < len(done):
                student.problems.append(f"feedback: {len(pages)} of {len(done)} pages written (see {log})")
            target = ctx.output / "feedback" / student.id
            target.mkdir(parents=True, exist_ok=True)
            for page in pages:
                shutil.copyfile(page, target / page.name)
    student.seconds = time.monotonic() - start
    return student


def failure_reason(output: str) -> str:
    """A short reason for a failed autograde run, from what nbgrader printed ('' if unknown)."""
    if "Kernel died" in output or "DeadKernelError" in output:
        return ": the kernel died (the code crashed Python or ran out of memory)"
    if "[grading] nbgrader autograde stopped after" in output:
        return ": it ran past --notebook-timeout"
    if "ValidationError" in output or "SchemaTooNewError" in output or "SchemaTooOldError" in output:
        return ": its nbgrader cell metadata is broken"
    return ""


def read_scores(student: Student, root: Path) -> dict:
    """{(notebook stem, grade_id): points} from the student's gradebook (graded notebooks only)."""
    from nbgrader.api import Gradebook, MissingEntry

    db = root / "gradebooks" / f"{student.id}.db"
    scores = {}
    if not db.exists():
        return scores
    with Gradebook(f"sqlite:///{db}") as gb:
        try:
            submission = gb.find_submission(course.ASSIGNMENT, student.id)
        except MissingEntry:
            return scores
        for nb in submission.notebooks:
            if student.status.get(nb.name + ".ipynb") != "graded":
                continue
            for grade in nb.grades:
                scores[(nb.name, grade.name)] = float(grade.score or 0.0)
    return scores


def write_reports(students: list[Student], exercises: dict, root: Path, output: Path) -> list[dict]:
    """Write grades.csv and totals.csv; return the totals."""
    rows, totals = [], []
    for student in students:
        scores = read_scores(student, root)
        points = max_points = 0.0
        for name, exs in exercises.items():
            stem = Path(name).stem
            status = student.status.get(name, "missing")
            for ex in exs:
                got = scores.get((stem, ex.grade_id), 0.0) if status == "graded" else 0.0
                rows.append([student.id, stem, ex.grade_id, f"{got:g}", f"{ex.points:g}", status])
                points += got
                max_points += ex.points
        n_graded = sum(1 for s in student.status.values() if s == "graded")
        rows.append([student.id, "ALL", "TOTAL", f"{points:g}", f"{max_points:g}", f"graded {n_graded}/{len(exercises)}"])
        totals.append({
            "student": student.id, "points": points, "max_points": max_points,
            "notebooks_graded": n_graded, "notebooks_expected": len(exercises),
            "problems": "; ".join(student.problems),
        })
    output.mkdir(parents=True, exist_ok=True)
    with (output / "grades.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_COLUMNS)
        writer.writerows(rows)
    with (output / "totals.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(totals[0]) if totals else ["student"])
        writer.writeheader()
        for t in totals:
            writer.writerow({**t, "points": f"{t['points']:g}", "max_points": f"{t['max_points']:g}"})
    return totals


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
    if workdir.exists():
        if any(workdir.iterdir()) and not (workdir / MARKER).exists():
            raise SystemExit(f"{workdir} exists and was not made by grade.py; choose another --workdir")
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("submissions", type=Path, help="folder with one sub-folder (or .zip) per student")
    parser.add_argument("--output", type=Path, default=ROOT / "build" / "grades", help="default: build/grades/")
    parser.add_argument("--workdir", type=Path, default=ROOT / "build" / "grading",
                        help="nbgrader course folder, rebuilt at every run (default: build/grading/)")
    parser.add_argument("--timeout", type=int, default=120, help="seconds one cell may run (default: 120)")
    parser.add_argument("--notebook-timeout", type=float, default=1800,
                        help="seconds one notebook may take in all, a last resort (default: 1800)")
    parser.add_argument("--jobs", type=int, default=min(4, os.cpu_count() or 1),
                        help="students graded at the same time (default: CPU count, at most 4)")
    parser.add_argument("--full", action="store_true",
                        help="run the notebooks in the default mode instead of VAE_COURSE_FAST=1")
    parser.add_argument("--no-feedback", action="store_true", help="skip the feedback HTML pages")
    parser.add_argument("--max-notebook-mb", type=float, default=50, help="larger files are not graded (default: 50)")
    parser.add_argument("--release-manifest", type=Path, default=ROOT / "release" / "release.json",
                        help="release.json written by release.py, to warn about notebooks changed since")
    args = parser.parse_args(argv)
    if args.timeout < 1 or args.jobs < 1 or args.notebook_timeout <= 0:
        parser.error("--timeout, --jobs and --notebook-timeout must be positive")

    start = time.perf_counter()
    submissions = args.submissions.resolve()
    if not submissions.is_dir():
        parser.error(f"SUBMISSIONS={args.submissions} is not a folder")
    notebooks = course.find_notebooks()
    if not notebooks:
        raise SystemExit(f"no notebooks in {course.NOTEBOOKS_DIR}")
    check_release_manifest(args.release_manifest, notebooks)
    exercises = {nb.name: course.exercises_of(nb) for nb in notebooks}

    workdir, output = args.workdir.resolve(), args.output.resolve()
    prepare_workdir(workdir)
    (workdir / MARKER).write_text("made by scripts/grade.py; removed and rebuilt at every run\n")
    students, skipped = find_students(submissions, workdir / "unzipped")
    for line in skipped:
        say(f"skipped {line}")
    if not students:
        raise SystemExit(f"no student folders in {submissions}")

    root = workdir / "course"
    course.make_course_dir(root, notebooks)
    for sub in ("gradebooks", "logs"):
        (root / sub).mkdir()
    threads = max(1, (os.cpu_count() or 1) // args.jobs)
    env = course.nbgrader_env(root / "jupyter", fast=not args.full, figures=workdir / "figures", threads=threads)
    status, out = course.run_nbgrader(["generate_assignment", course.ASSIGNMENT, "--force"], root, env,
                                      log=root / "logs" / "generate_assignment.log")
    if status != 0:
        sys.stderr.write(out)
        raise SystemExit("nbgrader generate_assignment failed on notebooks/: fix the notebooks first")

    for student in students:
        locate_notebooks(student, [nb.name for nb in notebooks], int(args.max_notebook_mb * 2**20))
        copy_submission(student, root / "submitted" / student.id / course.ASSIGNMENT,
                        root / "release" / course.ASSIGNMENT)

    if output.exists():
        for stale in ("grades.csv", "totals.csv"):
            (output / stale).unlink(missing_ok=True)
        shutil.rmtree(output / "feedback", ignore_errors=True)
    output.mkdir(parents=True, exist_ok=True)
    ctx = Context(root=root, env=env, timeout=args.timeout, notebook_timeout=args.notebook_timeout,
                  feedback=not args.no_feedback, output=output)
    say(f"grading {len(students)} student(s), {len(notebooks)} notebook(s) each, {args.jobs} at a time, "
        f"{'default mode' if args.full else 'VAE_COURSE_FAST=1'}, {args.timeout} s per cell")
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(grade_student, s, ctx) for s in students]
        for fut in as_completed(futures):
            s = fut.result()
            n = sum(1 for v in s.status.values() if v == "graded")
            say(f"  {s.id}: {n}/{len(notebooks)} notebooks graded in {s.seconds:.0f} s")

    totals = write_reports(students, exercises, root, output)
    say(f"\n{'student':<24} {'points':>8} {'max':>6}  problems")
    for t in totals:
        say(f"{t['student']:<24} {t['points']:>8g} {t['max_points']:>6g}  {t['problems']}")
    say(f"\ngrades:   {output / 'grades.csv'} (per exercise), {output / 'totals.csv'} (per student)")
    if not args.no_feedback:
        say(f"feedback: {output / 'feedback'}/<student>/<notebook>.html")
    say(f"graded {len(students)} student(s) in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
