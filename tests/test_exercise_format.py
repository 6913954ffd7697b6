"""The exercise format of every notebook (README "Teaching with this course", DESIGN.md "Exercises").

Per exercise: a solution cell (nbgrader metadata as in the course brief, the answer between
``### BEGIN SOLUTION`` / ``### END SOLUTION``) followed by its locked, autograded test cell
(``<solution id>-tests``, points > 0), whose visible tests give readable messages and which
holds at least one hidden test. The student version that nbgrader generates parses as Python
and runs top to bottom (FAST mode) until the first unanswered exercise raises
``NotImplementedError``.

Notebooks are found by glob, so a new notebook is checked without a change here. The
structural tests read JSON only; the last test runs each student notebook once.
"""
from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import textwrap
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grading import course  # noqa: E402

NOTEBOOKS = course.find_notebooks()
IDS = [p.stem for p in NOTEBOOKS]
SOLUTION_META = {"grade": False, "locked": False, "schema_version": 3, "solution": True, "task": False}
TEST_META = {"grade": True, "locked": True, "schema_version": 3, "solution": False, "task": False}
CHECKS = {"check_close", "check_shape", "check_true", "check_type"}
SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")
HIDDEN_MARKERS = ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
CELL_TIMEOUT = 600  # seconds per cell when running the student version (FAST mode takes seconds)


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def nbgrader_cells(nb):
    """(index, cell, nbgrader metadata) of the cells that have nbgrader metadata."""
    return [(i, c, c["metadata"]["nbgrader"]) for i, c in enumerate(nb["cells"]) if "nbgrader" in c.get("metadata", {})]


def strip_magics(code: str) -> str:
    """IPython magics and shell escapes (lines starting with % or !) become `pass` with the same indentation."""
    lines = []
    for line in code.splitlines():
        stripped = line.lstrip()
        lines.append(line[: len(line) - len(stripped)] + "pass" if stripped.startswith(("%", "!")) else line)
    return "\n".join(lines)


def regions(code: str, begin: str, end: str) -> tuple[list[str], str, list[str]]:
    """Split ``code`` on marker lines: (inside blocks, code outside them, problems with the markers)."""
    inside, outside, problems, current = [], [], [], None
    for n, line in enumerate(code.splitlines(), 1):
        text = line.strip()
        if text == begin:
            if current is not None:
                problems.append(f"line {n}: '{begin}' inside an open block")
            current = []
        elif text == end:
            if current is None:
                problems.append(f"line {n}: '{end}' without '{begin}'")
            else:
                inside.append("\n".join(current))
                current = None
        elif current is not None:
            current.append(line)
        else:
            outside.append(line)
        if text != begin and text != end and (begin.split(" ", 1)[1] in text or end.split(" ", 1)[1] in text):
            problems.append(f"line {n}: a marker must be alone on its line: {text!r}")
    if current is not None:
        problems.append(f"'{begin}' is never closed")
    return inside, "\n".join(outside), problems


def parse(code: str, what: str) -> ast.Module:
    try:
        return ast.parse(strip_magics(code))
    except SyntaxError as err:
        pytest.fail(f"{what} is not valid Python: {err}")


def readable_checks(tree: ast.AST) -> tuple[int, list[int]]:
    """(number of readable checks, line numbers of asserts without a message)."""
    good, bare = 0, []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assert):
            if node.msg is None:
                bare.append(node.lineno)
            else:
                good += 1
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
            if name in CHECKS:
                good += 1
    return good, bare


# ----------------------------------------------------------------------------- structure (JSON only)


def test_notebooks_are_found():
    assert NOTEBOOKS, f"no NN_*.ipynb in {course.NOTEBOOKS_DIR}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_exercise_metadata(path):
    nb, prefix = load(path), f"ex{path.name[:2]}-"
    cells = nbgrader_cells(nb)
    assert len([m for _, _, m in cells if m.get("solution")]) >= 3, f"{path.name}: fewer than three exercises"
    problems = []
    for i, cell, meta in cells:
        gid = meta.get("grade_id", "")
        where = f"cell {i} ({gid or 'no grade_id'})"
        if cell["cell_type"] != "code":
            problems.append(f"{where}: nbgrader cells of this course are code cells, this one is {cell['cell_type']}")
        if not re.fullmatch(re.escape(prefix) + r"[a-z0-9]+(-[a-z0-9]+)*", gid):
            problems.append(f"{where}: grade_id must look like '{prefix}<name>' (lower case, digits, dashes)")
        if meta.get("solution"):
            wrong = {k: meta.get(k) for k in SOLUTION_META if meta.get(k) != SOLUTION_META[k]}
            if wrong or "points" in meta or gid.endswith("-tests"):
                problems.append(f"{where}: a solution cell needs {SOLUTION_META}, no points, an id not ending in -tests; "
                                f"differs in {wrong or meta}")
        elif meta.get("grade"):
            wrong = {k: meta.get(k) for k in TEST_META if meta.get(k) != TEST_META[k]}
            if wrong:
                problems.append(f"{where}: a test cell needs {TEST_META}; differs in {wrong}")
            points = meta.get("points")
            if isinstance(points, bool) or not isinstance(points, (int, float)) or not points > 0:
                problems.append(f"{where}: points must be a number > 0, got {points!r}")
            if not gid.endswith("-tests"):
                problems.append(f"{where}: a test cell's grade_id is its solution's id + '-tests'")
        else:
            problems.append(f"{where}: neither a solution cell nor an autograded test cell: {meta}")
    assert not problems, f"{path.name}:\n  " + "\n  ".join(problems)


def test_grade_ids_are_unique_across_the_course():
    seen, duplicates = {}, []
    for path in NOTEBOOKS:
        for i, _, meta in nbgrader_cells(load(path)):
            key = meta.get("grade_id")
            if key in seen:
                duplicates.append(f"{key}: {seen[key]} and {path.name} cell {i}")
            seen[key] = f"{path.name} cell {i}"
    assert not duplicates, "grade_id used twice:\n  " + "\n  ".join(duplicates)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_each_solution_cell_is_followed_by_its_test_cell(path):
    cells, problems = load(path)["cells"], []

    def meta(i):
        return cells[i].get("metadata", {}).get("nbgrader", {}) if 0 <= i < len(cells) else {}

    for i in range(len(cells)):
        m = meta(i)
        if m.get("solution"):
            nxt = meta(i + 1)
            if not (nxt.get("grade") and nxt.get("grade_id") == m.get("grade_id", "") + "-tests"):
                problems.append(f"cell {i} ({m.get('grade_id')}): the next cell must be its test cell "
                                f"'{m.get('grade_id')}-tests', found {nxt.get('grade_id') or 'a cell without nbgrader metadata'}")
        elif m.get("grade"):
            prev = meta(i - 1)
            if not (prev.get("solution") and prev.get("grade_id", "") + "-tests" == m.get("grade_id")):
                problems.append(f"cell {i} ({m.get('grade_id')}): a test cell must follow its solution cell")
    assert not problems, f"{path.name}:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_exercises_sit_in_the_exercises_section(path):
    cells = load(path)["cells"]
    heading = next((i for i, c in enumerate(cells)
                    if c["cell_type"] == "markdown" and re.search(r"^##\s+Exercises\s*$", source(c), re.M)), None)
    assert heading is not None, f"{path.name}: no '## Exercises' heading"
    early = [m.get("grade_id") for i, _, m in nbgrader_cells(load(path)) if i < heading]
    assert not early, f"{path.name}: exercise cells before '## Exercises': {early}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_solution_and_hidden_test_markers(path):
    problems = []
    for i, cell in enumerate(load(path)["cells"]):
        text, meta = source(cell), cell.get("metadata", {}).get("nbgrader", {})
        where = f"cell {i} ({meta.get('grade_id', 'no nbgrader metadata')})"
        has_solution = any(m in text for m in SOLUTION_MARKERS)
        has_hidden = any(m in text for m in HIDDEN_MARKERS)
        if meta.get("solution"):
            blocks, outside, bad = regions(text, *SOLUTION_MARKERS)
            problems += [f"{where}: {b}" for b in bad]
            if not blocks or not any(b.strip() for b in blocks):
                problems.append(f"{where}: no non-empty '### BEGIN SOLUTION' ... '### END SOLUTION' block")
            if has_hidden:
                problems.append(f"{where}: hidden-test markers in a solution cell")
        elif meta.get("grade"):
            blocks, visible, bad = regions(text, *HIDDEN_MARKERS)
            problems += [f"{where}: {b}" for b in bad]
            if not any(parse(textwrap.dedent(b), f"{path.name} {where} hidden tests").body for b in blocks):
                problems.append(f"{where}: no hidden test (a non-empty '### BEGIN HIDDEN TESTS' block)")
            if has_solution:
                problems.append(f"{where}: solution markers in a test cell")
        elif has_solution or has_hidden:
            problems.append(f"{where}: nbgrader markers in a cell without nbgrader metadata (they would be released as is)")
    assert not problems, f"{path.name}:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_visible_tests_give_readable_messages(path):
    problems = []
    for i, cell, meta in nbgrader_cells(load(path)):
        if not meta.get("grade"):
            continue
        where = f"cell {i} ({meta.get('grade_id')})"
        blocks, visible, _ = regions(source(cell), *HIDDEN_MARKERS)
        good, bare = readable_checks(parse(visible, f"{path.name} {where} visible tests"))
        if not good:
            problems.append(f"{where}: the visible tests use no vae_course.exercises check and no assert with a message")
        for block in blocks:
            bare += readable_checks(parse(textwrap.dedent(block), f"{path.name} {where}"))[1]
        if bare:
            problems.append(f"{where}: assert without a message (line(s) {sorted(bare)} of its part): "
                            "write `assert cond, f'...expected... got ...'` or use check_close/check_true")
        full = parse(source(cell), f"{path.name} {where}")
        last = full.body[-1] if full.body else None
        if isinstance(last, ast.Expr) and not isinstance(last.value, ast.Call):
            problems.append(f"{where}: the cell ends with an expression whose value would be displayed "
                            "(nbgrader reads a displayed number as partial credit)")
    assert not problems, f"{path.name}:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_instructor_cells_compile(path):
    for i, cell in enumerate(load(path)["cells"]):
        if cell["cell_type"] == "code":
            parse(source(cell), f"{path.name} cell {i}")


def test_readme_exercise_table_is_up_to_date():
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "exercise_table.py"), "--check"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


# ----------------------------------------------------------------------------- the student version


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory):
    """The student version of every notebook, made by scripts/release.py (nbgrader generate_assignment)."""
    out = tmp_path_factory.mktemp("release")
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "release.py"), "--output", str(out)],
                            capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert result.returncode == 0, f"release.py failed:\n{result.stdout}\n{result.stderr}"
    return out / "vae-course-student" / "notebooks"


def student_notebook(student_dir: Path, path: Path) -> Path:
    released = student_dir / path.name
    if not released.exists():
        pytest.skip(f"{path.name} appeared after the student version was made")
    return released


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_student_version_parses(student_dir, path):
    nb = load(student_notebook(student_dir, path))
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            parse(source(cell), f"student version of {path.name}, cell {i}")
        assert not cell.get("outputs"), f"student version of {path.name}: cell {i} has outputs"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_student_version_runs_until_the_first_exercise(student_dir, path, tmp_path, monkeypatch):
    """Run the student notebook from the release folder (outside the repository) in FAST mode.

    Every cell must run until the first exercise raises NotImplementedError; the run stops there.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    released = student_notebook(student_dir, path)
    nb = nbformat.read(released, as_version=4)
    exercise_cells = [i for i, c in enumerate(nb.cells) if "nbgrader" in c.metadata]
    first = exercise_cells[0] if exercise_cells else None

    jupyter_dir = course.write_kernelspec(tmp_path / "jupyter")   # a kernel of this very Python
    monkeypatch.setenv("JUPYTER_PATH", os.pathsep.join([str(jupyter_dir), os.environ.get("JUPYTER_PATH", "")]))
    monkeypatch.setenv("VAE_COURSE_FAST", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    for key in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.setenv(key, "http://127.0.0.1:9")   # offline: a web request fails instead of downloading
    for key in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(key, raising=False)
    client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                            resources={"metadata": {"path": str(released.parent)}})
    error = None
    with client.setup_kernel():
        for i, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            try:
                client.execute_cell(cell, i)
            except CellExecutionError as err:
                error = (i, err.ename, str(err.evalue))
                break
    if first is None:
        assert error is None, f"{path.name} (no exercises): cell {error[0]} failed: {error[1]}: {error[2][:500]}"
        return
    assert error is not None, f"student version of {path.name} ran to the end: the exercises raise nothing"
    index, ename, evalue = error
    assert index >= first, (f"student version of {path.name}: cell {index}, before the first exercise "
                            f"(cell {first}), failed: {ename}: {evalue[:1000]}\n--- cell source ---\n"
                            f"{nb.cells[index].source[:800]}")
    assert ename == "NotImplementedError" and index in exercise_cells[:2], (
        f"student version of {path.name}: expected NotImplementedError from the first exercise "
        f"(cells {exercise_cells[:2]}), got {ename}: {evalue[:500]} in cell {index}")
