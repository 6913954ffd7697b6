"""The teaching workflow for real: release with nbgrader, then autograde submissions in the sandbox.

- scripts/release.py makes the student version of every notebook;
- scripts/grade.py grades (a) the instructor version: full points on every exercise; (b) the
  untouched student version: zero on every exercise, without a crash; (c) submissions of
  00_start_here broken on purpose (a syntax error, an endless loop, a deleted test, a
  test edited to `pass`, points edited, metadata tampered with, a huge output, a process
  that exits mid-notebook, a file that is no notebook...): each gets exactly the points of what
  it answered. tests/test_hostile.py has the attacks on the grader itself.
- the fast tests below: the split of test cells (grading/checks.py) on cells whose answer is
  known, the convention over every test cell of notebooks/, the comparison outside the sandbox.

Two grading runs (Dask LocalCluster of 2 workers): the whole course for (a) and (b) with the
Makefile's generous cell time limit (the trusted run plus two students: every notebook three times
in FAST mode, a few minutes on 2 cores), and 00_start_here for (c) with a short one.
"""
from __future__ import annotations

import copy
import csv
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grading import course  # noqa: E402

from grading import sandbox  # noqa: E402

# the tests that release and grade for real (minutes), in the bubblewrap sandbox
slow = pytest.mark.slow
needs_sandbox = pytest.mark.skipif(sandbox.bwrap_problem() is not None,
                                   reason=f"grading needs bubblewrap: {sandbox.bwrap_problem()}")

FIRST = "00_start_here"
COURSE_CELL_TIMEOUT = 600   # as the Makefile's nbval runs: the course must not fail for a slow machine
HOSTILE_CELL_TIMEOUT = 45   # the endless loop costs this much
# Grading must not need the network: web requests of the notebooks (urllib, requests...) go to a dead proxy.
OFFLINE = {key: "http://127.0.0.1:9" for key in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY")}


def run_script(*args, timeout=1800):
    start = time.monotonic()
    result = subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, cwd=ROOT,
                            timeout=timeout, env={**os.environ, **OFFLINE, "NO_PROXY": "", "no_proxy": ""})
    print(f"{Path(str(args[0])).name}: {time.monotonic() - start:.0f} s\n{result.stdout[-3000:]}")
    assert result.returncode == 0, f"{args[0]} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result


def read_grades(output: Path) -> dict:
    """{(student, notebook, grade_id): (points, max_points, status)} from grades.csv."""
    with (output / "grades.csv").open(encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        assert header == ["student", "notebook", "grade_id", "points", "max_points", "status"], header
        return {(r[0], r[1], r[2]): (float(r[3]), float(r[4]), r[5]) for r in reader}


# ----------------------------------------------------------------------------- building submissions


def load(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def save(nb: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb, indent=1), encoding="utf-8")


def src(cell) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def cell_by_id(nb: dict, grade_id: str) -> dict:
    for cell in nb["cells"]:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id:
            return cell
    raise KeyError(grade_id)


def answer_of(instructor: dict, solution_id: str) -> str:
    """The model answer as a student would type it: the solution cell without the marker lines."""
    lines = src(cell_by_id(instructor, solution_id)).splitlines()
    return "\n".join(line for line in lines if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION"))


def with_inserted(instructor: dict, solution_id: str, code: str) -> str:
    """The model answer with ``code`` inserted at the start of the solution block (same indentation)."""
    out = []
    for line in src(cell_by_id(instructor, solution_id)).splitlines():
        if line.strip() == "### BEGIN SOLUTION":
            indent = line[: len(line) - len(line.lstrip())]
            out += [indent + c for c in code.strip("\n").splitlines()]
        elif line.strip() != "### END SOLUTION":
            out.append(line)
    return "\n".join(out)


def student_copy(student_nb: dict, instructor: dict, exercises, answers: dict) -> dict:
    """The student version with the answers filled in: ``answers[exercise_id]`` is the code,
    ``None`` keeps the NotImplementedError stub; exercises not in ``answers`` get the model answer."""
    nb = copy.deepcopy(student_nb)
    for ex in exercises:
        code = answers.get(ex.exercise_id, answer_of(instructor, ex.exercise_id))
        if code is not None:
            cell_by_id(nb, ex.exercise_id)["source"] = code
    return nb


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    out = tmp_path_factory.mktemp("release")
    run_script(ROOT / "scripts" / "release.py", "--output", out, timeout=900)
    return out


@pytest.fixture(scope="module")
def course_grades(released, tmp_path_factory):
    """(a) the instructor version and (b) the untouched student version, every notebook."""
    tmp = tmp_path_factory.mktemp("course")
    subs = tmp / "submissions"
    notebooks = sorted((released / "vae-course-student" / "notebooks").glob("*.ipynb"))
    for nb in notebooks:
        save(load(course.NOTEBOOKS_DIR / nb.name), subs / "instructor" / nb.name)
        save(load(nb), subs / "untouched" / nb.name)
    run_script(ROOT / "scripts" / "grade.py", subs, "--output", tmp / "grades", "--workdir", tmp / "work",
               "--timeout", COURSE_CELL_TIMEOUT, "--jobs", 2, "--release-manifest", released / "release.json")
    return read_grades(tmp / "grades"), tmp / "grades", [p.stem for p in notebooks]


@pytest.fixture(scope="module")
def first_notebook(released):
    instructor = load(course.NOTEBOOKS_DIR / f"{FIRST}.ipynb")
    student = load(released / "vae-course-student" / "notebooks" / f"{FIRST}.ipynb")
    exercises = course.exercises_of(course.NOTEBOOKS_DIR / f"{FIRST}.ipynb")
    assert len(exercises) >= 3, f"{FIRST} needs three exercises for these tests"
    return instructor, student, exercises


@pytest.fixture(scope="module")
def hostile_grades(first_notebook, released, tmp_path_factory):
    """(c) submissions of the first notebook, each broken in its own way (see EXPECTED)."""
    instructor, student, exs = first_notebook
    e0, e1, e2 = (ex.exercise_id for ex in exs[:3])
    tmp = tmp_path_factory.mktemp("hostile")
    subs = tmp / "submissions"
    name = f"{FIRST}.ipynb"

    def submit(who, nb):
        save(nb, subs / who / name)

    submit("perfect", student_copy(student, instructor, exs, {}))
    # a syntax error in the second answer
    submit("syntax_error", student_copy(student, instructor, exs, {e1: answer_of(instructor, e1) + "\n    return )(\n"}))
    # the first answer never returns
    submit("endless_loop", student_copy(student, instructor, exs, {e0: with_inserted(instructor, e0, "while True:\n    pass")}))
    # test cells deleted: of an unanswered exercise (must not help) and of a right answer (must not hurt)
    nb = student_copy(student, instructor, exs, {e0: None})
    nb["cells"] = [c for c in nb["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("grade_id")
                   not in (exs[0].grade_id, exs[1].grade_id)]
    submit("deleted_tests", nb)
    # test cells edited to `pass` (one unanswered, one answered) and points raised to 100
    nb = student_copy(student, instructor, exs, {e2: None})
    for ex in (exs[1], exs[2]):
        cell = cell_by_id(nb, ex.grade_id)
        cell["source"] = "pass\n"
        cell["metadata"]["nbgrader"]["points"] = 100
    cell_by_id(nb, exs[0].grade_id)["metadata"]["nbgrader"]["points"] = 100
    submit("edited_tests", nb)
    # a huge output from one right answer, a warning (stderr) from another
    huge = ("global _HUGE_DONE\nif not globals().get('_HUGE_DONE'):\n    _HUGE_DONE = True\n"
            "    print('x' * 5_000_000)\n    for _i in range(100_000):\n        print(_i)")
    submit("huge_output", student_copy(student, instructor, exs, {
        e1: with_inserted(instructor, e1, huge),
        e2: with_inserted(instructor, e2, "import warnings\nwarnings.warn('a harmless warning on stderr')"),
    }))
    # metadata tampering: a duplicated test cell, a solution cell relabelled as a graded cell worth
    # 100 points, points that are not a number, and an exercise whose two cells were both deleted
    nb = student_copy(student, instructor, exs, {})
    test0 = cell_by_id(nb, exs[0].grade_id)
    nb["cells"].insert(nb["cells"].index(test0) + 1, copy.deepcopy(test0))
    cell_by_id(nb, e0)["metadata"]["nbgrader"].update(grade=True, points=100)
    cell_by_id(nb, exs[1].grade_id)["metadata"]["nbgrader"]["points"] = "lots"
    nb["cells"] = [c for c in nb["cells"]
                   if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") not in (e2, exs[2].grade_id)]
    submit("tampered_metadata", nb)
    # the third answer moved to a cell of its own (nbgrader metadata removed); the second test cell
    # stripped of its metadata and emptied, with the second exercise unanswered
    nb = student_copy(student, instructor, exs, {e1: None})
    del cell_by_id(nb, e2)["metadata"]["nbgrader"]
    test1 = cell_by_id(nb, exs[1].grade_id)
    del test1["metadata"]["nbgrader"]
    test1["source"] = "pass\n"
    submit("metadata_removed", nb)
    # the third answer kills the kernel when its cell runs
    submit("kernel_killed", student_copy(student, instructor, exs, {e2: "import os\nos._exit(1)"}))
    # the first answer only fits the visible test (00_start_here only: it knows the exercise)
    first_answer = src(cell_by_id(student, e0))
    if "def class_counts(" in first_answer:
        submit("visible_only", student_copy(student, instructor, exs, {
            e0: first_answer.replace("raise NotImplementedError()", "return torch.tensor([1, 1, 3, 0])")}))
    # not a notebook; an empty folder; a zip; a notebook with an unknown name
    (subs / "not_json").mkdir(parents=True)
    (subs / "not_json" / name).write_text("{ this is not a notebook", encoding="utf-8")
    (subs / "empty").mkdir()
    import zipfile
    with zipfile.ZipFile(subs / "zipped.zip", "w") as zf:
        zf.writestr(f"vae-course-student/notebooks/{name}", json.dumps(student_copy(student, instructor, exs, {})))
    submit("renamed", student_copy(student, instructor, exs, {}))
    (subs / "renamed" / name).rename(subs / "renamed" / "my_answers.ipynb")

    run_script(ROOT / "scripts" / "grade.py", subs, "--output", tmp / "grades", "--workdir", tmp / "work",
               "--timeout", HOSTILE_CELL_TIMEOUT, "--jobs", 2, "--release-manifest", released / "release.json")
    return read_grades(tmp / "grades"), tmp / "grades", exs


# ----------------------------------------------------------------------------- (a) and (b)


@slow
@needs_sandbox
def test_instructor_version_gets_full_points(course_grades):
    grades, output, notebooks = course_grades
    rows = {k: v for k, v in grades.items() if k[0] == "instructor" and k[1] != "ALL"}
    for stem in notebooks:
        expected = course.exercises_of(course.NOTEBOOKS_DIR / f"{stem}.ipynb")
        for ex in expected:
            points, max_points, status = rows[("instructor", stem, ex.grade_id)]
            assert status == "graded", f"{stem}: {status}"
            assert max_points == ex.points
            assert points == max_points, (f"{stem} {ex.grade_id}: the model answer got {points} of {max_points}; "
                                          f"see {output / 'feedback' / 'instructor' / (stem + '.html')}")


@slow
@needs_sandbox
def test_untouched_student_version_gets_zero_without_crashing(course_grades):
    grades, output, notebooks = course_grades
    for stem in notebooks:
        exs = course.exercises_of(course.NOTEBOOKS_DIR / f"{stem}.ipynb")
        for ex in exs:
            points, max_points, status = grades[("untouched", stem, ex.grade_id)]
            assert status == "graded", f"{stem}: {status} (nbgrader must grade an untouched notebook)"
            assert points == 0, f"{stem} {ex.grade_id}: an unanswered exercise got {points} points"
        for who in ("instructor", "untouched"):
            page = output / "feedback" / who / f"{stem}.html"
            assert page.is_file(), f"no feedback page {page}"
    page = (output / "feedback" / "untouched" / f"{notebooks[0]}.html").read_text(encoding="utf-8")
    assert "NotImplementedError" in page


@slow
@needs_sandbox
def test_totals_add_up(course_grades):
    grades, output, _ = course_grades
    for who in ("instructor", "untouched"):
        rows = [v for k, v in grades.items() if k[0] == who and k[1] != "ALL"]
        total = grades[(who, "ALL", "TOTAL")]
        assert total[0] == pytest.approx(sum(r[0] for r in rows))
        assert total[1] == pytest.approx(sum(r[1] for r in rows))
    with (output / "totals.csv").open(encoding="utf-8") as f:
        totals = {r["student"]: r for r in csv.DictReader(f)}
    assert float(totals["instructor"]["points"]) == float(totals["instructor"]["max_points"]) > 0
    assert float(totals["untouched"]["points"]) == 0


# ----------------------------------------------------------------------------- (c)

# (student, index of the exercise) -> the points it must get: "full" or 0. Unlisted: full.
EXPECTED = {
    "perfect": {},
    "syntax_error": {1: 0},
    "endless_loop": {0: 0},
    "deleted_tests": {0: 0},            # unanswered, test deleted; exercise 1 answered, test deleted: full
    "edited_tests": {2: 0},             # unanswered, test edited to pass; exercise 1 answered, edited: full
    "huge_output": {},
    "zipped": {},
    "visible_only": {0: 0},             # passes the visible test, fails the hidden one
    "tampered_metadata": {2: 0},        # exercise 2 deleted; the duplicated and relabelled cells count once, as released
    "metadata_removed": {1: 0},         # the plain test cell does not count, the real one is put back
    "kernel_killed": {2: 0},            # the process exits in the third answer: the tests before it count
    "not_json": {0: 0, 1: 0, 2: 0},
    "empty": {0: 0, 1: 0, 2: 0},
    "renamed": {0: 0, 1: 0, 2: 0},
}
STATUS = {"kernel_killed": "incomplete", "not_json": "unreadable", "empty": "missing", "renamed": "missing"}


@slow
@needs_sandbox
@pytest.mark.parametrize("who", sorted(EXPECTED))
def test_hostile_submissions_get_exactly_what_they_answered(hostile_grades, who):
    grades, output, exs = hostile_grades
    if who == "visible_only" and not any(k[0] == who for k in grades):
        pytest.skip(f"{FIRST} no longer starts with class_counts")
    got = {i: grades[(who, FIRST, ex.grade_id)] for i, ex in enumerate(exs)}
    for i, ex in enumerate(exs):
        points, max_points, status = got[i]
        assert status == STATUS.get(who, "graded"), f"{who}: status {status}"
        assert max_points == ex.points, f"{who} {ex.grade_id}: max_points {max_points}, edited points must not count"
        want = 0 if EXPECTED[who].get(i, "full") == 0 else ex.points
        assert points == want, f"{who} {ex.grade_id}: {points} points, expected {want}; see {output / 'feedback' / who}"
    # other notebooks were not submitted: zero, status missing
    others = [v for k, v in grades.items() if k[0] == who and k[1] not in (FIRST, "ALL")]
    assert all(p == 0 and s == "missing" for p, _, s in others)


@slow
@needs_sandbox
def test_hostile_feedback_shows_what_happened(hostile_grades):
    grades, output, exs = hostile_grades
    loop = (output / "feedback" / "endless_loop" / f"{FIRST}.html").read_text(encoding="utf-8")
    assert "CellTimeout" in loop
    syntax = (output / "feedback" / "syntax_error" / f"{FIRST}.html").read_text(encoding="utf-8")
    assert "SyntaxError" in syntax
    edited = (output / "feedback" / "edited_tests" / f"{FIRST}.html").read_text(encoding="utf-8")
    assert "NotImplementedError" in edited      # the restored test ran against the stub
    huge = output / "feedback" / "huge_output" / f"{FIRST}.html"
    assert huge.stat().st_size < 3_000_000, f"{huge} has {huge.stat().st_size} bytes"   # (test cells' output: not shown)
    assert not (output / "feedback" / "not_json").exists()
    with (output / "totals.csv").open(encoding="utf-8") as f:
        problems = {r["student"]: r["problems"] for r in csv.DictReader(f)}
    assert "not a readable notebook" in problems["not_json"]
    assert "my_answers.ipynb" in problems["renamed"]
    assert "the notebook stopped after" in problems["kernel_killed"]
    assert "copied, only the last copy counts" in problems["tampered_metadata"]
    assert f"{exs[2].grade_id}: test cell missing, put back" in problems["tampered_metadata"]
    assert f"{exs[0].grade_id}: test cell missing, put back" in problems["deleted_tests"]


@slow
@needs_sandbox
def test_no_score_exceeds_its_maximum(hostile_grades, course_grades):
    for grades in (hostile_grades[0], course_grades[0]):
        for key, (points, max_points, _) in grades.items():
            assert 0 <= points <= max_points, f"{key}: {points} of {max_points}"


@needs_sandbox
def test_grade_refuses_a_bad_submissions_folder(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "grade.py"), str(tmp_path / "nothing")],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode != 0 and "is not a folder" in result.stderr
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "precious.txt").write_text("keep me")
    (tmp_path / "subs" / "alice").mkdir(parents=True)
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "grade.py"), str(tmp_path / "subs"),
                             "--workdir", str(tmp_path / "work"), "--output", str(tmp_path / "out")],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode != 0 and "was not made by grade.py" in (result.stdout + result.stderr)
    assert (tmp_path / "work" / "precious.txt").read_text() == "keep me"


@slow
def test_release_outputs(released):
    handout = released / "vae-course-student"
    names = sorted(p.name for p in (handout / "notebooks").glob("*.ipynb"))
    assert names and set(names) <= {p.name for p in course.find_notebooks()}
    import zipfile
    with zipfile.ZipFile(released / "vae-course-student.zip") as zf:
        listed = set(zf.namelist())
    for name in names:
        assert f"vae-course-student/notebooks/{name}" in listed
    assert "vae-course-student/vae_course/__init__.py" in listed and "vae-course-student/pyproject.toml" in listed
    manifest = json.loads((released / "release.json").read_text())
    assert sorted(manifest["notebooks"]) == [Path(n).stem for n in names]
    for name in names:
        text = (handout / "notebooks" / name).read_text(encoding="utf-8")
        assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text, name
        nb = json.loads(text)
        stubs = [src(c) for c in nb["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("solution")]
        assert all("raise NotImplementedError()" in s for s in stubs), name
        assert len(stubs) == len(course.exercises_of(course.NOTEBOOKS_DIR / name))
    readme = (handout / "README.md").read_text(encoding="utf-8")
    assert re.search(r"hidden tests", readme, re.I)


# ----------------------------------------------------------------------------- the nbgrader extensions


def test_grade_cell_outputs_only_errors_cost_points():
    from nbformat.v4 import new_code_cell, new_output
    from nbgrader import utils

    sys.path.insert(0, str(ROOT / "grading"))
    from nbgrader_extensions import GradeCellOutputs

    def test_cell(*outputs):
        cell = new_code_cell("check()", metadata={"nbgrader": {"grade": True, "solution": False, "locked": True,
                                                               "points": 2, "grade_id": "t", "schema_version": 3}})
        cell.outputs = list(outputs)
        return cell

    warning = new_output("stream", name="stderr", text="UserWarning: harmless\n")
    number = new_output("execute_result", data={"text/plain": "1e9"}, execution_count=1)
    error = new_output("error", ename="AssertionError", evalue="x: expected 1, got 2", traceback=[])
    pre = GradeCellOutputs()
    # nbgrader alone: stderr gives 0, a displayed number is partial credit (here above the maximum: an error)
    assert utils.determine_grade(test_cell(warning))[0] == 0
    with pytest.raises(ValueError):
        utils.determine_grade(test_cell(number))
    # after GradeCellOutputs: full points, the output kept; an error still gives 0
    for outputs, points in (([warning], 2), ([number], 2), ([warning, error], 0)):
        cell, _ = pre.preprocess_cell(test_cell(*outputs), {}, 0)
        assert utils.determine_grade(cell)[0] == points
        assert len(cell.outputs) == len(outputs)
    assert "[stderr] UserWarning" in pre.preprocess_cell(test_cell(warning), {}, 0)[0].outputs[0].text


def test_capped_execute_keeps_at_most_the_limit():
    sys.path.insert(0, str(ROOT / "grading"))
    from nbgrader_extensions import CappedExecute

    ex = CappedExecute(max_output_chars=100, max_image_chars=1000)
    ex.reset_execution_trackers()
    ex._kept, ex._capped = {"text": 0, "other": 0}, False     # what preprocess_cell sets for each cell
    ex.clear_before_next_output = False                       # what nbclient sets for each cell
    outs = []

    def stream(text):
        return {"msg_type": "stream", "parent_header": {"msg_id": "m"}, "header": {"msg_type": "stream"},
                "content": {"name": "stdout", "text": text}}

    def image(n):
        return {"msg_type": "display_data", "parent_header": {"msg_id": "m"}, "header": {"msg_type": "display_data"},
                "content": {"data": {"image/png": "A" * n, "text/plain": "<Figure>"}, "metadata": {}}}

    for _ in range(3):
        ex.output(outs, stream("x" * 40), None, 0)          # 120 characters: the third is dropped
    ex.output(outs, image(900), None, 0)                      # an image fits the image budget
    ex.output(outs, stream("y" * 10), None, 0)
    texts = [o.get("text", "") for o in outs if o.output_type == "stream"]
    assert texts[:2] == ["x" * 40, "x" * 40]
    assert "output truncated by the grader" in texts[2]
    assert sum(1 for o in outs if o.output_type == "display_data") == 1
    assert sum("truncated" in t for t in texts) == 1           # the notice once


# ----------------------------------------------------------------------------- the split of test cells (fast)

from grading import checks  # noqa: E402

CELL = '''\
from vae_course.exercises import check_close, check_shape
x = torch.arange(3.0)
expected = x * 2
got = double(x)
check_shape("double", got, (3,))
check_close("double", got, expected)
### BEGIN HIDDEN TESTS
def brute(v):
    return [2 * float(a) for a in v]
y = torch.linspace(0, 1, 5)
reference = brute(y)
for k in range(2):
    check_close(f"double, round {k}", double(y), reference, atol=1e-6)
assert double(x).sum() == 6, "sum"
### END HIDDEN TESTS
'''


def test_split_strips_every_expected_value_from_the_sandboxed_copy():
    split = checks.split_test_cell(CELL)
    sandboxed = split.sandboxed
    for gone in ("expected", "brute", "reference", "check_close(", "check_shape(", "atol"):
        assert gone not in sandboxed, (gone, sandboxed)
    for kept in ("x = torch.arange(3.0)", "got = double(x)", "y = torch.linspace(0, 1, 5)", "for k in range(2):"):
        assert kept in sandboxed, (kept, sandboxed)
    assert sandboxed.count("__grader_record__") == 4
    assert [(s.kind, s.hidden) for s in split.sites] == [("shape", False), ("close", False), ("close", True),
                                                         ("assert", True)]
    assert split.reference.count("__grader_reference__") == 4 and "brute" in split.reference
    assert split.problems == [] and checks.convention_problems(CELL) == []


def test_split_keeps_names_read_by_an_assignment_target():
    """rows is read only inside the target of shares[rows[0]] = ...: the sandboxed copy must keep it."""
    cell = ("import numpy as np\nshares = np.zeros((4, 2))\nrows = np.random.permutation(4)\n"
            "shares[rows[0], 0] = 1.0\nwant = shares.sum(0)\ncheck_close('f', f(shares), want)\n")
    split = checks.split_test_cell(cell)
    namespace = {"f": lambda a: a.sum(0), "__grader_record__": lambda site, value: None}
    exec(split.sandboxed, namespace)              # raised NameError: rows, before the fix
    assert "rows = np.random.permutation(4)" in split.sandboxed and "want" not in split.sandboxed


def test_split_reports_cells_it_cannot_make_safe():
    zipped = "want = [1.0, 2.0]\nfor g, w in zip(double(x), want):\n    check_close('d', g, w)\n"
    assert any("'w' holds an expected value" in p for p in checks.convention_problems(zipped))
    assert any("inside an expression" in p for p in checks.convention_problems("ok = [check_close('a', 1, 1)]\n"))
    assert any("no check_close or check_shape in the hidden" in p
               for p in checks.convention_problems("check_true('a', f(), 'm')\n"))
    with pytest.raises(ValueError, match="does not parse"):
        checks.split_test_cell("check_close(\n")
    with pytest.raises(TypeError, match="source must be"):
        checks.split_test_cell(None)


def test_every_test_cell_of_the_course_follows_the_convention():
    """The README's convention ("Writing test cells"), checked on every autograded cell of notebooks/."""
    problems = []
    for path in course.find_notebooks():
        nb = load(path)
        for cell in nb["cells"]:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if meta.get("grade") and not meta.get("solution"):
                problems += [f"{path.name} {meta.get('grade_id')}: {p}" for p in checks.convention_problems(src(cell))]
    assert not problems, "\n".join(problems)


def _ref(site, kind, **kw):
    return {"site": site, "kind": kind, "name": "f(x)", **kw}


def test_judge_cell_compares_outside_with_the_trusted_values():
    enc = lambda v: {"t": "array", "dtype": "f", "shape": list(np.shape(v)), "v": np.ravel(v).tolist(), "types": []}
    reference = {"records": [_ref(0, "close", expected=enc([1.0, 2.0]), atol=1e-6, rtol=0.0),
                             _ref(1, "shape", shape=[2]), _ref(2, "true", message="m"),
                             _ref(3, "type", types=["builtins.int"])]}
    sites = [checks.Site(i, k, i + 1, i >= 2) for i, k in enumerate(["close", "shape", "true", "type"])]

    def student(*values, status="ok", error=None):
        return {"status": status, "error": error, "records": [{"site": i, "value": v} for i, v in enumerate(values)]}

    right = student(enc([1.0, 2.0]), enc([1.0, 2.0]), {"t": "bool", "v": True}, {"t": "array", "dtype": "i", "shape": [],
                    "v": [3], "types": ["builtins.int", "builtins.object"]})
    assert checks.judge_cell(reference, right, sites).passed
    wrong = student(enc([1.0, 2.5]), enc([1.0, 2.0]), {"t": "bool", "v": True}, {"t": "bool", "v": True,
                    "types": ["builtins.bool", "builtins.int"]})
    v = checks.judge_cell(reference, wrong, sites)
    assert not v.passed and v.hidden_failed == 1 and "largest difference" in v.messages[0][1]
    assert not checks.judge_cell(reference, None, sites).passed
    assert not checks.judge_cell(reference, student(enc([1.0, 2.0])), sites).passed     # values missing
    errored = {**right, "status": "error", "error": {"ename": "ValueError", "evalue": "bad"}}
    assert not checks.judge_cell(reference, errored, sites).passed


def test_decode_reads_only_plain_data():
    import numpy as np_

    assert checks.decode({"t": "none"}) is None
    assert checks.decode({"t": "bool", "v": 1}) is True
    arr = checks.decode({"t": "array", "dtype": "f", "shape": [2, 2], "v": [1, 2, 3, 4]})
    assert isinstance(arr, np_.ndarray) and arr.shape == (2, 2) and arr[1, 0] == 3
    for bad in ({"t": "array", "shape": [3], "v": [1]}, {"t": "array", "shape": "x", "v": []}, "junk", None):
        assert repr(checks.decode(bad)).startswith("<")


def test_limits_are_validated():
    from grading import sandbox

    with pytest.raises(ValueError, match="memory_mb must be a positive int"):
        sandbox.Limits(memory_mb=0)
    with pytest.raises(ValueError, match="cell_timeout"):
        pipeline_options(cell_timeout=-1)


def pipeline_options(**kw):
    from grading import pipeline

    return pipeline.Options(**kw)


def test_grade_explains_a_missing_bwrap(tmp_path):
    (tmp_path / "subs" / "alice").mkdir(parents=True)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    env = {**os.environ, "PATH": str(bindir)}
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "grade.py"), str(tmp_path / "subs")],
                            capture_output=True, text=True, cwd=ROOT, env=env)
    assert result.returncode != 0
    assert "bwrap (bubblewrap) is not installed" in result.stderr and "apt-get install bubblewrap" in result.stderr
    assert "--no-sandbox" in result.stderr


def test_no_sandbox_grades_anyway_and_says_so(tmp_path):
    """--no-sandbox (where bwrap is missing): graded, with a warning in the log and in totals.csv. About 20 s."""
    from grading import demo_course as demo

    course_dir = tmp_path / "course"
    demo.write_course(course_dir)
    demo.write_submission(tmp_path / "subs", "alice", demo.student_notebook())
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "grade.py"), str(tmp_path / "subs"),
                             "--notebooks", str(course_dir), "--output", str(tmp_path / "out"),
                             "--workdir", str(tmp_path / "work"), "--no-sandbox", "--workers", "1"],
                            capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING: --no-sandbox" in result.stdout and "NO SANDBOX" in result.stdout
    with (tmp_path / "out" / "totals.csv").open(encoding="utf-8") as f:
        totals = list(csv.DictReader(f))
    assert totals[0]["sandbox"] == "NONE (--no-sandbox)" and totals[0]["points"] == "5"


def test_cell_output_is_capped():
    sys.path.insert(0, str(ROOT / "grading"))
    from runner import CappedText

    out = CappedText(10)
    out.write("x" * 8)
    out.write("y" * 5)
    out.write("z" * 100)
    assert out.value().startswith("x" * 8 + "yy\n[output truncated by the grader: 103 more characters]")
