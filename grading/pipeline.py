"""Grading one student: their notebooks run in the sandbox, the tests judged outside it.

The pieces, in the order grading uses them:

- ``Course.from_notebooks``: what the grader knows of the course (the instructor's notebooks: test
  cells split by ``checks.split_test_cell``, points, the released layout), plus the course package
  as bytes, so that a worker on another machine needs no copy of the submissions or the notebooks;
- ``reference_run``: the instructor's notebooks run once, in the sandbox, with the reference copies
  of the test cells: the expected values of every check, occurrence by occurrence;
- ``grade_student``: one student's notebooks (their text, read by the coordinator) put in the released
  order with the grader's sandboxed test cells, run in ONE sandbox (the imports warmed once, each
  notebook in a forked child), then judged by ``checks.judge_cell`` in this process, which never runs
  student code. Returns the student's rows and feedback; writes nothing but its scratch folder.
"""
from __future__ import annotations

import base64
import compileall
import copy
import hashlib
import html
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from . import checks
from . import sandbox as sbx

ROOT = Path(__file__).resolve().parent.parent
RUNNER = Path(__file__).resolve().parent / "runner.py"
PRELOAD = ["numpy", "torch", "IPython", "matplotlib", "matplotlib.pyplot", "scipy", "scipy.stats", "sklearn",
           "vae_course"]

__all__ = ["Course", "Options", "StudentResult", "grade_student", "reference_run", "run_cells_of"]


# ----------------------------------------------------------------------------- the course


def _source(cell) -> str:
    src = cell.get("source", "") if isinstance(cell, dict) else ""
    if isinstance(src, list):
        src = "".join(s for s in src if isinstance(s, str))
    return src if isinstance(src, str) else ""


def _meta(cell) -> dict:
    meta = cell.get("metadata") if isinstance(cell, dict) else None
    nbg = meta.get("nbgrader") if isinstance(meta, dict) else None
    return nbg if isinstance(nbg, dict) else {}


def _visible_part(source: str) -> str:
    out, inside = [], False
    for line in source.splitlines():
        if line.strip() == checks.HIDDEN_BEGIN:
            inside = True
        elif line.strip() == checks.HIDDEN_END:
            inside = False
        elif not inside:
            out.append(line)
    return "\n".join(out)


def test_seed(grade_id: str) -> int:
    """The seed of the global random generators at the start of a test cell (same in both runs)."""
    return zlib.crc32(grade_id.encode()) % (2**31)


@dataclass
class Test:
    grade_id: str
    points: float
    sandboxed: str
    reference: str
    visible: str
    sites: list
    anchor: str | None       # grade_id of the released nbgrader cell before it


@dataclass
class Notebook:
    name: str                 # stem, e.g. 00_start_here
    cells: list               # the instructor's cells: {"source", "grade_id", "role": solution/test/locked/plain}
    tests: dict               # grade_id -> Test, in notebook order


@dataclass
class Course:
    notebooks: dict                               # stem -> Notebook
    package: dict                                 # relative path -> bytes (the vae_course package)
    package_hash: str = ""
    reference: dict = field(default_factory=dict)     # stem -> {grade_id: cell line of the trusted run}

    @classmethod
    def from_notebooks(cls, paths) -> "Course":
        notebooks = {}
        for path in paths:
            path = Path(path)
            nb = json.loads(path.read_text(encoding="utf-8"))
            cells, tests, last = [], {}, None
            for cell in nb.get("cells", []):
                meta = _meta(cell)
                gid = meta.get("grade_id")
                role = ("test" if meta.get("grade") and not meta.get("solution") else
                        "solution" if meta.get("solution") else "locked" if meta.get("locked") else "plain")
                if cell.get("cell_type") != "code":
                    continue
                src = _source(cell)
                if role == "test":
                    split = checks.split_test_cell(src)      # a cell that does not parse stops grading here
                    problems = checks.convention_problems(src)
                    if problems:
                        warnings.warn(f"{path.name}, test cell {gid} does not follow the convention of the README, "
                                      "so the sandbox protects it less: " + "; ".join(problems), stacklevel=2)
                    tests[gid] = Test(gid, float(meta.get("points", 0) or 0), split.sandboxed, split.reference,
                                      _visible_part(src), split.sites, last)
                cells.append({"source": src, "grade_id": gid, "role": role})
                if gid:
                    last = gid
            notebooks[path.stem] = Notebook(path.stem, cells, tests)
        package = {}
        pkg_root = ROOT / "vae_course"
        for f in sorted(pkg_root.rglob("*")):
            if f.is_file() and "__pycache__" not in f.parts and f.suffix in (".py", ".json", ".txt", ".csv", ".npz"):
                package[str(f.relative_to(ROOT))] = f.read_bytes()
        digest = hashlib.sha256()
        for rel, data in package.items():
            digest.update(rel.encode() + b"\0" + data)
        return cls(notebooks, package, digest.hexdigest()[:16])


@dataclass(frozen=True)
class Options:
    cell_timeout: float = 120
    notebook_timeout: float = 1800
    fast: bool = True
    sandbox: bool = True
    limits: sbx.Limits = sbx.Limits()
    max_output_chars: int = 100_000
    show_hidden: bool = False
    workdir: str = ""        # where scratch folders and the package copy go (default: a temporary folder)

    def __post_init__(self):
        for name in ("cell_timeout", "notebook_timeout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"Options.{name} must be a number of seconds > 0, got {value!r}")


def _workdir(options: Options) -> Path:
    base = Path(options.workdir) if options.workdir else Path(tempfile.gettempdir()) / "vae-course-grading"
    base.mkdir(parents=True, exist_ok=True)
    return base


def package_dir(course: Course, options: Options) -> Path:
    """The course package written out once per machine (a copy, compiled; never the repository)."""
    target = _workdir(options) / f"package-{course.package_hash}"
    if (target / ".complete").is_file():
        return target
    tmp = Path(tempfile.mkdtemp(prefix="package-", dir=_workdir(options)))
    for rel, data in course.package.items():
        dest = tmp / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
    compileall.compile_dir(str(tmp / "vae_course"), quiet=1)
    # matplotlib's font cache, built once here (a cold one costs seconds in every notebook)
    subprocess.run([sys.executable, "-c", "import matplotlib.pyplot"], capture_output=True,
                   env={**os.environ, "MPLCONFIGDIR": str(tmp / "_mplcache"), "MPLBACKEND": "Agg"})
    (tmp / ".complete").write_text("ok\n")
    for path in [tmp, *tmp.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    try:
        tmp.rename(target)
    except OSError:          # another worker of this machine was faster
        shutil.rmtree(tmp, ignore_errors=True)
    return target


# ----------------------------------------------------------------------------- running


def run_cells_of(notebook: Notebook, student_nb: dict | None) -> tuple[list, list]:
    """The cells to run for ``student_nb`` (None: the instructor's notebook, reference copies) and what was changed.

    A student's notebook is put back in the released shape: their code cells in their order, the
    solution cells of a grade_id copied several times counted once (the last copy), locked cells
    restored, every test cell of theirs dropped, and the grader's copy of each test cell inserted
    after the released cell before it (its exercise's solution), wherever the student moved it.
    """
    notes = []
    if student_nb is None:
        out = []
        for i, cell in enumerate(notebook.cells):
            if cell["role"] == "test":
                out.append({"kind": "reference", "source": notebook.tests[cell["grade_id"]].reference,
                            "grade_id": cell["grade_id"], "seed": test_seed(cell["grade_id"])})
            else:
                out.append({"kind": "code", "source": cell["source"]})
        return _indexed(out), notes
    released = {c["grade_id"]: c for c in notebook.cells if c["grade_id"]}
    raw = student_nb.get("cells") if isinstance(student_nb, dict) else None
    if not isinstance(raw, list):
        raise ValueError("the notebook has no list of cells")
    student_cells = []
    last_copy = {}
    for k, cell in enumerate(raw):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        gid = _meta(cell).get("grade_id")
        gid = gid if isinstance(gid, str) else None
        student_cells.append((k, gid, _source(cell)))
        if gid in released:
            last_copy[gid] = k
    out = []
    seen_tests = set()
    for k, gid, src in student_cells:
        ref = released.get(gid)
        if ref is None:
            out.append({"kind": "code", "source": src, "after": gid})
            continue
        if last_copy.get(gid) != k:
            notes.append(f"{gid}: copied, only the last copy counts")
            continue
        if ref["role"] == "test":
            seen_tests.add(gid)
            out.append({"kind": "marker", "grade_id": gid})   # where the student had it; the grader's copy goes in below
            continue
        if ref["role"] == "locked":
            if src != ref["source"]:
                notes.append(f"{gid}: locked cell edited, restored")
            src = ref["source"]
        out.append({"kind": "code", "source": src, "grade_id": gid})
    order = [c["grade_id"] for c in notebook.cells if c["grade_id"]]

    def find(gid, kind):
        return next((i for i, c in enumerate(out) if c.get("grade_id") == gid and c["kind"] == kind), None)

    for gid, test in notebook.tests.items():
        if gid not in seen_tests:
            notes.append(f"{gid}: test cell missing, put back")
        # after its exercise (the nearest released cell before it that the student kept), and not before
        # the place the student had it: a test moved up, or relabelled, runs once its answer is defined
        position, anchor = None, test.anchor
        while anchor is not None and position is None:
            idx = find(anchor, "code") if notebook.tests.get(anchor) is None else find(anchor, "test")
            if idx is not None:
                position = idx + 1
            else:
                k = order.index(anchor)
                anchor = order[k - 1] if k > 0 else None
        marker = find(gid, "marker")
        if position is None:
            position = len(out) if marker is None else marker + 1
        elif marker is not None:
            position = max(position, marker + 1)
        while position < len(out) and out[position]["kind"] == "test" and \
                order.index(out[position]["grade_id"]) < order.index(gid):
            position += 1
        out.insert(position, {"kind": "test", "source": test.sandboxed, "grade_id": gid, "seed": test_seed(gid)})
    out = [c for c in out if c["kind"] != "marker"]
    return _indexed(out), notes


def _indexed(cells: list) -> list:
    for i, cell in enumerate(cells):
        cell["index"] = i
        cell.pop("after", None)
    return cells


def _job(notebooks: list, options: Options) -> dict:
    return {
        "notebooks": notebooks,
        "cell_timeout": options.cell_timeout,
        "notebook_timeout": options.notebook_timeout,
        "max_output_chars": options.max_output_chars,
        "preload": PRELOAD,
        "matplotlib_cache": "/grading/package/_mplcache" if options.sandbox else "",
    }


def _read_results(path: Path, max_bytes: int = 64 * 2**20) -> tuple[dict, bool]:
    """{cell index: line} and whether the run said it was done, from an untrusted result file."""
    cells, done = {}, False
    if not path.is_file():
        return cells, done
    with path.open("rb") as f:
        data = f.read(max_bytes)
    for raw in data.splitlines():
        try:
            line = json.loads(raw)
        except (ValueError, RecursionError):
            continue
        if not isinstance(line, dict):
            continue
        if line.get("done") is True:
            done = True
        elif isinstance(line.get("index"), int) and line["index"] not in cells:
            cells[line["index"]] = line
    return cells, done


def _run(named_cells: list, course: Course, options: Options, scratch: Path) -> tuple[dict, sbx.RunOutcome]:
    job_dir, out_dir = scratch / "job", scratch / "out"
    job_dir.mkdir(parents=True)
    out_dir.mkdir()
    out_dir.chmod(0o777)
    notebooks = [{"name": name, "cells": [{k: c[k] for k in ("index", "kind", "source", "seed") if k in c}
                                          for c in cells]} for name, cells in named_cells]
    (job_dir / "job.json").write_text(json.dumps(_job(notebooks, options)), encoding="utf-8")
    (job_dir / "job.json").chmod(0o644)
    env = {"VAE_COURSE_FAST": "1" if options.fast else "0"}
    wall = options.notebook_timeout * max(1, len(notebooks)) + 120
    outcome = sbx.run_sandboxed(job_dir, out_dir, package_dir(course, options), RUNNER, options.limits,
                                    wall, env_extra=env, sandbox=options.sandbox)
    results = {name: _read_results(out_dir / f"{name}.jsonl") for name, _ in named_cells}
    for name, key in (("_preload.json", "preload"), ("_cpu.json", "cpu")):
        try:
            outcome.notes.append(f"{key} {float(json.loads((out_dir / name).read_text())['seconds']):.2f} s")
        except (OSError, ValueError, KeyError, TypeError):
            pass
    return results, outcome


class ReferenceError(RuntimeError):
    """The instructor's notebooks fail their own tests in the trusted run."""


def reference_run(course: Course, options: Options, names: list | None = None) -> dict:
    """Run the instructor's notebooks with the reference copies of the tests; {stem: {grade_id: line}}."""
    names = names or list(course.notebooks)
    plan = [(n, run_cells_of(course.notebooks[n], None)[0]) for n in names]
    scratch = Path(tempfile.mkdtemp(prefix="reference-", dir=_workdir(options)))
    try:
        results, outcome = _run(plan, course, options, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    reference, problems = {}, []
    for name, cells in plan:
        lines, done = results[name]
        reference[name] = {}
        for cell in cells:
            if cell["kind"] != "reference":
                continue
            line = lines.get(cell["index"])
            gid = cell["grade_id"]
            if line is None:
                problems.append(f"{name} {gid}: the trusted run stopped before this test ({outcome.log[-500:]})")
                continue
            if line.get("status") != "ok":
                err = line.get("error") or {}
                problems.append(f"{name} {gid}: {err.get('ename')}: {err.get('evalue')}")
            for rec in line.get("records", []):
                if not rec.get("passed", False):
                    problems.append(f"{name} {gid}: the model answer fails its own test: {rec.get('failure')}")
            reference[name][gid] = line
    if problems:
        raise ReferenceError("the instructor's notebooks fail their own tests in the trusted run:\n  "
                             + "\n  ".join(problems))
    return reference


# ----------------------------------------------------------------------------- one student


@dataclass
class StudentResult:
    student: str
    rows: list               # [notebook, grade_id, points, max_points, status]
    status: dict             # notebook -> graded / incomplete / missing / unreadable / failed
    problems: list
    feedback: dict           # notebook -> HTML
    seconds: float
    sandboxed: bool
    timing: dict = field(default_factory=dict)   # where the time went (sandbox, imports, cells per notebook)


def grade_student(student: str, submissions: dict, course: Course, options: Options) -> StudentResult:
    """Grade one student: ``submissions`` maps a notebook stem to its text (str), or to a status ('missing'...).

    Runs in a Dask task; returns the rows, the status of each notebook and the feedback pages.
    """
    start = time.monotonic()
    if not isinstance(student, str) or not student:
        raise ValueError(f"student must be a non-empty id, got {student!r}")
    status, problems, plan, notes_of, timing = {}, [], [], {}, {"cells_seconds": {}}
    for name, nb in course.notebooks.items():
        text = submissions.get(name, "missing")
        if text in ("missing", "unreadable"):
            status[name] = text
            if text == "unreadable":
                problems.append(f"{name}: not a readable notebook (or larger than the size limit)")
            continue
        try:
            data = json.loads(text)
            cells, notes = run_cells_of(nb, data)
        except (ValueError, TypeError, RecursionError) as err:
            status[name] = "unreadable"
            problems.append(f"{name}: not a readable notebook ({type(err).__name__}: {str(err)[:200]})")
            continue
        notes_of[name] = notes
        if notes:
            problems.append(f"{name}: " + "; ".join(notes))
        plan.append((name, cells))
    results, outcome = {}, None
    if plan:
        scratch = Path(tempfile.mkdtemp(prefix=f"student-{student[:40]}-", dir=_workdir(options)))
        try:
            results, outcome = _run(plan, course, options, scratch)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        if outcome.timed_out:
            problems.append(f"the sandbox ran past {options.notebook_timeout * len(plan) + 120:.0f} s and was killed")
        problems.extend(n for n in outcome.notes if not n.startswith(("preload ", "cpu ")))
        timing["sandbox_seconds"] = round(outcome.seconds, 2)
        timing["preload_seconds"] = next((float(n.split()[1]) for n in outcome.notes if n.startswith("preload ")), None)
        timing["sandbox_cpu_seconds"] = next((float(n.split()[1]) for n in outcome.notes if n.startswith("cpu ")), None)
    rows, feedback = [], {}
    for name, nb in course.notebooks.items():
        cells = dict(plan).get(name)
        verdicts = {}
        if cells is not None:
            lines, done = results.get(name, ({}, False))
            timing["cells_seconds"][name] = round(sum(float(v.get("seconds", 0) or 0) for v in lines.values()
                                                      if isinstance(v.get("seconds", 0), (int, float))), 2)
            complete = done and all(c["index"] in lines for c in cells) and outcome is not None \
                and outcome.returncode == 0
            status[name] = "graded" if complete else "incomplete"
            if not complete:
                ran = sum(1 for c in cells if c["index"] in lines)
                why = _stop_reason(lines, cells, outcome)
                problems.append(f"{name}: the notebook stopped after {ran} of {len(cells)} cells ({why}); "
                                "the tests that ran are scored")
            for cell in cells:
                if cell["kind"] == "test":
                    gid = cell["grade_id"]
                    verdicts[gid] = checks.judge_cell(course.reference[name][gid], lines.get(cell["index"]),
                                                      nb.tests[gid].sites)
            feedback[name] = render_feedback(student, name, cells, lines, verdicts, nb, options.show_hidden)
        for gid, test in nb.tests.items():
            v = verdicts.get(gid)
            points = test.points if (v is not None and v.passed) else 0.0
            if not 0 <= points <= test.points:
                raise AssertionError(f"{student} {name} {gid}: {points} points of {test.points}")
            rows.append([name, gid, points, test.points, status[name]])
    timing["judge_and_feedback_seconds"] = round(time.monotonic() - start - timing.get("sandbox_seconds", 0), 2)
    return StudentResult(student, rows, status, problems, feedback, time.monotonic() - start, options.sandbox, timing)


def _stop_reason(lines: dict, cells: list, outcome) -> str:
    if outcome is not None and outcome.timed_out:
        return "the sandbox ran out of time"
    for cell in cells:
        line = lines.get(cell["index"])
        if line is None:
            return "the process running it ended or ran past the notebook time limit"
    return "the sandbox did not end normally"


# ----------------------------------------------------------------------------- feedback


def render_feedback(student: str, name: str, cells: list, lines: dict, verdicts: dict, nb: Notebook,
                    show_hidden: bool = False) -> str:
    """An HTML page: the student's own cells and outputs, and for each test its visible messages and points."""
    esc = html.escape
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{esc(name)}: {esc(student)}</title>",
             "<style>body{font-family:sans-serif;max-width:60em;margin:auto}pre{background:#f6f6f6;padding:.5em;"
             "overflow-x:auto}.pass{color:#060}.fail{color:#a00}.test{border-left:4px solid #888;padding-left:.5em}"
             "</style></head><body>", f"<h1>{esc(name)}</h1><p>student: {esc(student)}</p>"]
    total = sum(t.points for t in nb.tests.values())
    got = sum(t.points for gid, t in nb.tests.items() if verdicts.get(gid) and verdicts[gid].passed)
    parts.append(f"<p><b>{got:g} / {total:g} points</b></p>")
    for cell in cells:
        line = lines.get(cell["index"]) or {}
        if cell["kind"] == "test":
            gid = cell["grade_id"]
            test, v = nb.tests[gid], verdicts.get(gid)
            ok = v is not None and v.passed
            parts.append(f"<div class='test'><h3 class='{'pass' if ok else 'fail'}'>test {esc(gid)}: "
                         f"{test.points if ok else 0:g} / {test.points:g} points</h3>")
            parts.append(f"<pre>{esc(test.visible)}</pre>")
            if v is not None:
                for hidden, message in v.messages:
                    if hidden and not show_hidden:
                        continue
                    parts.append(f"<pre class='fail'>{esc(message[:3000])}</pre>")
                if v.hidden_total:
                    parts.append(f"<p>hidden tests: {v.hidden_total - v.hidden_failed} of {v.hidden_total} checks "
                                 "passed (their code and values are not shown)</p>")
            parts.append("</div>")
            continue
        parts.append(f"<pre>{esc(cell['source'][:20000])}</pre>")
        output = line.get("output") if isinstance(line.get("output"), str) else ""
        if len(output) > 20000:
            output = output[:20000] + f"\n[output truncated by the grader: {len(output) - 20000} more characters]"
        if output:
            parts.append(f"<pre>{esc(output)}</pre>")
        if not line:
            parts.append("<p class='fail'>(not run)</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def encode_submission(path: Path, max_bytes: int) -> str:
    """The text of a submitted notebook with its outputs dropped (what is sent to a worker), or a status."""
    if not path.is_file():
        return "missing"
    if path.stat().st_size > max_bytes:
        return "unreadable"
    try:
        nb = json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except (ValueError, RecursionError):
        return "unreadable"
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        return "unreadable"
    cells = []
    for cell in nb["cells"]:
        if isinstance(cell, dict):
            cells.append({"cell_type": cell.get("cell_type"), "source": _source(cell),
                          "metadata": {"nbgrader": copy.deepcopy(_meta(cell))} if _meta(cell) else {}})
    return json.dumps({"cells": cells})


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
