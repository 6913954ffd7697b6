"""The course as nbgrader sees it: notebooks, exercises, and the nbgrader course folder.

Shared by scripts/release.py, scripts/grade.py, scripts/exercise_table.py and the tests.
Import it with the repository root on ``sys.path`` (``from grading import course``).

nbgrader layout used here: ONE assignment, ``vae-course``, holding every notebook of
notebooks/ that matches ``NN_*.ipynb`` (found by glob, so a new notebook is picked up
without a change here). One assignment gives one release, one zip, one submission folder
per student and one total per student; the grades are still reported per notebook and per
exercise.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS_DIR = ROOT / "notebooks"
CONFIG_FILE = Path(__file__).resolve().parent / "nbgrader_config.py"
ASSIGNMENT = "vae-course"
NOTEBOOK_NAME = re.compile(r"^\d\d_[A-Za-z0-9_-]+\.ipynb$")

__all__ = [
    "ASSIGNMENT",
    "Exercise",
    "NOTEBOOKS_DIR",
    "ROOT",
    "exercises_of",
    "find_notebooks",
    "make_course_dir",
    "nbgrader_env",
    "run_nbgrader",
]


def find_notebooks(folder: Path | str = NOTEBOOKS_DIR) -> list[Path]:
    """The course notebooks ``NN_*.ipynb`` of ``folder``, in course order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"notebook folder {folder} does not exist")
    return sorted(p for p in folder.iterdir() if p.is_file() and NOTEBOOK_NAME.match(p.name))


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


@dataclass(frozen=True)
class Exercise:
    """One exercise: its solution cell and its autograded test cell."""

    notebook: str        # notebook name without .ipynb, e.g. "00_start_here"
    exercise_id: str     # grade_id of the solution cell, e.g. "ex00-class-counts"
    grade_id: str        # grade_id of the test cell (nbgrader's grade), e.g. "ex00-class-counts-tests"
    points: float
    solution_index: int | None
    test_index: int


def exercises_of(nb_path: Path | str) -> list[Exercise]:
    """The exercises of a notebook (autograded test cells, each paired with the solution cell before it)."""
    nb_path = Path(nb_path)
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    found = []
    last_solution: tuple[int, str] | None = None
    for i, cell in enumerate(nb.get("cells", [])):
        meta = cell.get("metadata", {}).get("nbgrader")
        if not meta:
            continue
        if meta.get("solution") and not meta.get("grade"):
            last_solution = (i, meta.get("grade_id", ""))
        elif meta.get("grade") and not meta.get("solution"):
            sol_index, sol_id = last_solution if last_solution else (None, "")
            found.append(
                Exercise(
                    notebook=nb_path.stem,
                    exercise_id=sol_id,
                    grade_id=meta.get("grade_id", ""),
                    points=float(meta.get("points", 0) or 0),
                    solution_index=sol_index,
                    test_index=i,
                )
            )
            last_solution = None
    return found


# ----------------------------------------------------------------------------- environment


def write_kernelspec(folder: Path) -> Path:
    """A ``python3`` kernelspec in ``folder/kernels`` that runs THIS interpreter; returns ``folder``.

    Put ``folder`` first on ``JUPYTER_PATH`` and every kernel that nbgrader (or nbclient) starts
    for a notebook of kernelspec ``python3`` runs the Python of this environment, where the
    ``vae_course`` package is installed, whatever other ``python3`` kernels the machine knows.
    """
    spec_dir = Path(folder) / "kernels" / "python3"
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (vae-course)",
        "language": "python",
        "metadata": {"debugger": False},
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1), encoding="utf-8")
    return Path(folder)


def nbgrader_env(jupyter_dir: Path, fast: bool = True, figures: Path | None = None, threads: int | None = 1) -> dict:
    """Environment for nbgrader and the kernels it starts.

    - this environment's ``bin`` first on ``PATH`` (nbgrader calls the ``alembic`` program);
    - ``JUPYTER_PATH`` starting with ``jupyter_dir`` (see ``write_kernelspec``);
    - ``VAE_COURSE_FAST=1`` (or ``0`` when ``fast`` is False) for every kernel;
    - ``VAE_COURSE_FIGURES`` so that graded notebooks never write into the committed figures/;
    - ``MPLBACKEND=Agg`` and, when ``threads`` is given, ``OMP_NUM_THREADS``.
    """
    env = dict(os.environ)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    env["JUPYTER_PATH"] = os.pathsep.join(p for p in (str(jupyter_dir), env.get("JUPYTER_PATH", "")) if p)
    env["VAE_COURSE_FAST"] = "1" if fast else "0"
    if figures is not None:
        env["VAE_COURSE_FIGURES"] = str(figures)
    env["MPLBACKEND"] = "Agg"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
        env["MKL_NUM_THREADS"] = str(threads)
    return env


def make_course_dir(root: Path, notebooks: list[Path]) -> Path:
    """Create an nbgrader course folder at ``root`` with ``source/vae-course/`` holding ``notebooks``.

    ``root`` must not exist or be empty. A ``nbgrader_config.py`` in ``root`` loads the course's
    configuration (grading/nbgrader_config.py), so nbgrader run by hand in ``root`` behaves the same.
    """
    root = Path(root)
    if root.exists() and any(root.iterdir()):
        raise FileExistsError(f"{root} is not empty")
    source = root / "source" / ASSIGNMENT
    source.mkdir(parents=True)
    for nb in notebooks:
        shutil.copy2(nb, source / nb.name)
    (root / "nbgrader_config.py").write_text(
        "# Written by grading/course.py: the course's nbgrader settings.\n"
        f"load_subconfig({str(CONFIG_FILE)!r})\n",
        encoding="utf-8",
    )
    write_kernelspec(root / "jupyter")
    return root


def run_nbgrader(args: list[str], root: Path, env: dict, log: Path | None = None,
                 timeout: float | None = None, db: Path | None = None) -> tuple[int, str]:
    """Run ``python -m nbgrader ARGS`` in the course folder ``root``; return (exit status, output).

    The output also goes to ``log`` when given. ``db`` chooses the gradebook (default
    ``root/gradebook.db``). On ``timeout`` the run is interrupted (then killed) and the
    status is -1.
    """
    root = Path(root).resolve()
    db = Path(db).resolve() if db is not None else root / "gradebook.db"
    cmd = [
        sys.executable, "-m", "nbgrader", *args,
        f"--CourseDirectory.root={root}",
        f"--CourseDirectory.db_url=sqlite:///{db}",
    ]
    start = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, errors="replace", start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
        status = proc.returncode
    except subprocess.TimeoutExpired:
        # SIGINT first: nbgrader shuts its kernels down; then make sure.
        try:
            os.killpg(proc.pid, signal.SIGINT)
            out, _ = proc.communicate(timeout=20)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            out, _ = proc.communicate()
        out = (out or "") + f"\n[grading] nbgrader {args[0]} stopped after {timeout:.0f} s\n"
        status = -1
    if log is not None:
        log = Path(log)
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a", encoding="utf-8") as f:
            f.write(f"$ {' '.join(cmd)}\n{out}\n[grading] exit status {status} after "
                    f"{time.monotonic() - start:.1f} s\n\n")
    return status, out or ""
