"""A small course of one notebook, for testing the grader quickly (tests/test_hostile.py, tests/test_grading_dask.py).

``00_demo.ipynb`` has three exercises, each a solution cell and a test cell with hidden tests, written
like the course's (``check_close`` against ``torch.distributions``, an ``expected = ...`` line that
a frame peek would find, an ``assert``):

    kl_loss(mu, logvar)      2 points   the KL of N(mu, exp(logvar)) to N(0, 1), summed, batch mean
    scale(x)                 2 points   3 * x
    count_positive(values)   1 point    how many values are > 0

``student_notebook(answers)`` writes a submission: the instructor's notebook with the solutions
replaced by ``answers[exercise]`` (default: the model answer) and optional extra cells.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

NAME = "00_demo"
POINTS = {"ex-kl": 2.0, "ex-scale": 2.0, "ex-count": 1.0}

SETUP = """\
import torch
from torch.distributions import Normal, kl_divergence
"""

SOLUTIONS = {
    "ex-kl": """\
def kl_loss(mu, logvar):
    ### BEGIN SOLUTION
    return (0.5 * (mu**2 + logvar.exp() - 1 - logvar)).sum(1).mean()
    ### END SOLUTION
""",
    "ex-scale": """\
def scale(x):
    ### BEGIN SOLUTION
    return 3.0 * x
    ### END SOLUTION
""",
    "ex-count": """\
def count_positive(values):
    ### BEGIN SOLUTION
    return int(sum(1 for v in values if v > 0))
    ### END SOLUTION
""",
}

TESTS = {
    "ex-kl": """\
from vae_course.exercises import check_close
mu = torch.tensor([[0.5, -1.0]], dtype=torch.float64)
logvar = torch.tensor([[0.2, -0.3]], dtype=torch.float64)
expected = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)).sum(1).mean()
check_close("kl_loss", kl_loss(mu, logvar), expected, atol=1e-10)
### BEGIN HIDDEN TESTS
gen = torch.Generator().manual_seed(3)
mu2 = torch.randn(4, 3, generator=gen, dtype=torch.float64)
lv2 = torch.randn(4, 3, generator=gen, dtype=torch.float64)
expected = kl_divergence(Normal(mu2, torch.exp(0.5 * lv2)), Normal(0.0, 1.0)).sum(1).mean()
check_close("kl_loss on a random batch", kl_loss(mu2, lv2), expected, atol=1e-10)
### END HIDDEN TESTS
""",
    "ex-scale": """\
from vae_course.exercises import check_close, check_shape
x = torch.arange(4.0)
check_shape("scale(x)", scale(x), (4,))
### BEGIN HIDDEN TESTS
x_secret = torch.linspace(-2.0, 5.0, 7)
expected = x_secret * 3.0
check_close("scale on hidden inputs", scale(x_secret), expected)
### END HIDDEN TESTS
""",
    "ex-count": """\
from vae_course.exercises import check_close, check_type
check_type("count_positive", count_positive([1, -2, 3]), int)
check_close("count_positive([1, -2, 3])", count_positive([1, -2, 3]), 2)
### BEGIN HIDDEN TESTS
assert count_positive([]) == 0, "count_positive([]) should be 0"
check_close("count_positive, hidden", count_positive([-1, 5, 6, 0, 2]), 3)
### END HIDDEN TESTS
""",
}


def _cell(source: str, meta: dict | None = None) -> dict:
    cell = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": source}
    if meta:
        cell["metadata"]["nbgrader"] = {"schema_version": 3, "task": False, **meta}
    return cell


def instructor_notebook() -> dict:
    cells = [_cell(SETUP)]
    for ex, points in POINTS.items():
        cells.append(_cell(SOLUTIONS[ex], {"grade": False, "solution": True, "locked": False, "grade_id": ex}))
        cells.append(_cell(TESTS[ex], {"grade": True, "solution": False, "locked": True, "points": points,
                                       "grade_id": f"{ex}-tests"}))
    return {"cells": cells, "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                        "language": "python"}},
            "nbformat": 4, "nbformat_minor": 5}


def write_course(folder: Path) -> Path:
    """Write the instructor's ``00_demo.ipynb`` into ``folder`` (created); return its path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{NAME}.ipynb"
    path.write_text(json.dumps(instructor_notebook(), indent=1), encoding="utf-8")
    return path


def model_answer(ex: str) -> str:
    return "\n".join(line for line in SOLUTIONS[ex].splitlines()
                     if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION")) + "\n"


def student_notebook(answers: dict | None = None, before: list | None = None, hidden_removed: bool = True) -> dict:
    """A submission: ``answers[ex]`` replaces the model answer of ``ex``; ``before`` are code cells put first."""
    nb = copy.deepcopy(instructor_notebook())
    answers = answers or {}
    for cell in nb["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        gid = meta.get("grade_id")
        if meta.get("solution"):
            cell["source"] = answers.get(gid, model_answer(gid))
        elif meta.get("grade") and hidden_removed:
            src, out, inside = cell["source"], [], False
            for line in src.splitlines():
                if line.strip() == "### BEGIN HIDDEN TESTS":
                    inside = True
                elif line.strip() == "### END HIDDEN TESTS":
                    inside = False
                elif not inside:
                    out.append(line)
            cell["source"] = "\n".join(out) + "\n"
    nb["cells"][1:1] = [_cell(src) for src in (before or [])]
    return nb


def write_submission(folder: Path, student: str, nb: dict) -> Path:
    path = Path(folder) / student / f"{NAME}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb), encoding="utf-8")
    return path
