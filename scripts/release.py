#!/usr/bin/env python
"""Release the student version of the course with nbgrader (``make student``).

    python scripts/release.py                  # every notebooks/NN_*.ipynb -> release/
    python scripts/release.py --output DIR     # somewhere else
    python scripts/release.py --only 00 03     # only the notebooks starting with 00 or 03

nbgrader's ``generate_assignment`` runs in a temporary nbgrader course folder
(source/vae-course/<notebooks>): solutions become ``raise NotImplementedError()``, hidden
tests are removed, test cells are locked and checksummed, outputs are cleared. It writes

    release/vae-course-student/notebooks/NN_*.ipynb   the student notebooks
    release/vae-course-student/README.md              how to install, work, check and submit
    release/vae-course-student/vae_course/, pyproject.toml, constraints.txt, environment.yml
                                                      the helper package, so the folder installs alone
    release/vae-course-student.zip                    the same folder, zipped, to hand out
    release/release.json                              notebooks, exercises, points and source hashes

release.json stays with the instructor: scripts/grade.py uses it to warn when the notebooks
changed between release and grading.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grading import course  # noqa: E402

HANDOUT = "vae-course-student"
PACKAGE_FILES = ["pyproject.toml", "constraints.txt", "environment.yml"]
MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")

STUDENT_README = """\
# vae-course: student version

Notebooks from the plain autoencoder to the variational autoencoder, with graded exercises.

## Install

Python 3.10 or newer:

```bash
python -m venv .venv
.venv/bin/pip install -c constraints.txt -e ".[notebooks]"
.venv/bin/jupyter lab notebooks/
```

or, with conda: `conda env create -f environment.yml && conda activate vae-course`.
A notebook runs top to bottom in a fresh kernel; `VAE_COURSE_FAST=1` makes it a quick
smoke test with less data and fewer epochs.

## Exercises

Each exercise is a cell that reads `raise NotImplementedError()`: replace that line with
your answer (keep the function's name and signature). The cell below it is its test:

- run the test cell after your answer. If it prints nothing, your answer passes the
  **visible tests**; if not, its message says what was expected and what came back;
- the grader also runs **hidden tests**, kept out of this version, on other inputs (edge
  cases, larger data): passing the visible tests is necessary, not sufficient;
- test cells are locked: the grader restores them as they were, so editing or deleting
  them changes nothing. Do not rename the notebooks.

Before you submit: Kernel > Restart Kernel and Run All Cells, and check that no test fails.

## Submit

Hand in the notebook files (`notebooks/NN_*.ipynb`) as your instructor asks.

## Exercises and points

{table}
"""


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def check_released(path: Path) -> list[str]:
    """Problems of a released notebook: a solution or hidden test left in, an output left over."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    problems = []
    for i, cell in enumerate(nb["cells"]):
        text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        for marker in MARKERS:
            if f"### {marker}" in text:
                problems.append(f"{path.name}: cell {i} still holds '### {marker}'")
        if cell.get("outputs"):
            problems.append(f"{path.name}: cell {i} has outputs")
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution") and cell["cell_type"] == "code" and "NotImplementedError" not in text:
            problems.append(f"{path.name}: solution cell {meta.get('grade_id')} has no NotImplementedError stub")
    return problems


def exercise_table(notebooks: list[Path]) -> tuple[str, dict]:
    rows = ["| notebook | exercises | points |", "| --- | --- | --- |"]
    summary = {}
    for nb in notebooks:
        exs = course.exercises_of(nb)
        points = sum(e.points for e in exs)
        summary[nb.stem] = {
            "source_sha256": sha256(nb),
            "exercises": [{"grade_id": e.grade_id, "points": e.points} for e in exs],
            "points": points,
        }
        rows.append(f"| `{nb.stem}` | {len(exs)} | {points:g} |")
    total = sum(v["points"] for v in summary.values())
    rows.append(f"| **total** | {sum(len(v['exercises']) for v in summary.values())} | {total:g} |")
    return "\n".join(rows), summary


def write_zip(folder: Path, zip_path: Path) -> None:
    """Zip ``folder`` (as its top-level folder) with sorted entries and fixed times: same input, same bytes."""
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_dir():
                continue
            info = zipfile.ZipInfo(str(Path(folder.name) / path.relative_to(folder)), date_time=(2024, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes())


def release(output: Path, only: list[str] | None = None, keep_course: Path | None = None) -> dict:
    """Generate the student version into ``output``; return the manifest (also written to release.json)."""
    notebooks = course.find_notebooks()
    if only:
        notebooks = [p for p in notebooks if any(p.name.startswith(prefix) for prefix in only)]
    if not notebooks:
        raise SystemExit(f"no notebooks to release (looked for NN_*.ipynb in {course.NOTEBOOKS_DIR}"
                         + (f" starting with {only}" if only else "") + ")")

    with tempfile.TemporaryDirectory(prefix="vae-course-release-") as tmp:
        root = Path(keep_course) if keep_course else Path(tmp) / "course"
        if keep_course and root.exists():
            shutil.rmtree(root)
        course.make_course_dir(root, notebooks)
        env = course.nbgrader_env(root / "jupyter")
        log = root / "generate_assignment.log"
        status, out = course.run_nbgrader(["generate_assignment", course.ASSIGNMENT, "--force"], root, env, log=log)
        released_dir = root / "release" / course.ASSIGNMENT
        if status != 0:
            sys.stderr.write(out)
            raise SystemExit(f"nbgrader generate_assignment failed (exit status {status}); see the log above")
        released = sorted(released_dir.glob("*.ipynb"))
        missing = sorted({p.name for p in notebooks} - {p.name for p in released})
        if missing:
            raise SystemExit(f"nbgrader did not release {missing}; log: {out}")
        problems = [msg for p in released for msg in check_released(p)]
        if problems:
            raise SystemExit("the student version is not clean:\n  " + "\n  ".join(problems))

        output.mkdir(parents=True, exist_ok=True)
        handout = output / HANDOUT
        if handout.exists():
            shutil.rmtree(handout)
        (handout / "notebooks").mkdir(parents=True)
        for p in released:
            shutil.copyfile(p, handout / "notebooks" / p.name)

    shutil.copytree(ROOT / "vae_course", handout / "vae_course",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in PACKAGE_FILES:
        if (ROOT / name).exists():
            shutil.copyfile(ROOT / name, handout / name)
    table, summary = exercise_table(notebooks)
    (handout / "README.md").write_text(STUDENT_README.format(table=table), encoding="utf-8")

    zip_path = output / f"{HANDOUT}.zip"
    write_zip(handout, zip_path)

    import nbgrader

    manifest = {
        "assignment": course.ASSIGNMENT,
        "nbgrader": nbgrader.__version__,
        "notebooks": summary,
        "total_points": sum(v["points"] for v in summary.values()),
    }
    (output / "release.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return manifest


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, default=ROOT / "release", help="output folder (default: release/)")
    parser.add_argument("--only", nargs="+", metavar="PREFIX", help="release only notebooks starting with these prefixes")
    parser.add_argument("--keep-course", type=Path, metavar="DIR",
                        help="build the nbgrader course folder in DIR and keep it (default: a temporary folder)")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    manifest = release(args.output.resolve(), args.only, args.keep_course.resolve() if args.keep_course else None)
    seconds = time.perf_counter() - start
    print(f"{'notebook':<40} {'exercises':>9} {'points':>7}")
    for name, info in manifest["notebooks"].items():
        print(f"{name:<40} {len(info['exercises']):>9} {info['points']:>7g}")
    print(f"{'total':<40} {sum(len(i['exercises']) for i in manifest['notebooks'].values()):>9} "
          f"{manifest['total_points']:>7g}")
    out = args.output.resolve()
    print(f"student version: {out / HANDOUT}/notebooks/")
    print(f"hand-out zip:    {out / (HANDOUT + '.zip')}")
    print(f"released {len(manifest['notebooks'])} notebooks in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
