#!/usr/bin/env python
"""Run every course notebook in a fresh kernel, then build the course website and slides.

    python scripts/build_course.py                  # default mode: meaningful pictures, minutes
    python scripts/build_course.py --fast           # VAE_COURSE_FAST=1: seconds per notebook
    python scripts/build_course.py --only 07 09     # some notebooks (the site shows those run)
    python scripts/build_course.py --dataset mnist  # VAE_COURSE_DATASET for every notebook

Notebooks are `NN_*.ipynb` in the notebooks folder, run in order with that folder as the
working directory and the widget state stored. Everything goes under build/:

    build/executed/NN_*.ipynb   the notebooks with their outputs, and run.json (mode, times)
    build/figures/              the figures they write (VAE_COURSE_FIGURES; --figures DIR
                                elsewhere, e.g. `make figures` writes the committed figures/)
    build/student/              the student version (scripts/release.py), for the site's downloads
    build/site/                 the website and slides (scripts/build_site.py)

Each kernel gets OMP_NUM_THREADS=MKL_NUM_THREADS=VAE_COURSE_THREADS=1 unless --threads N
or $VAE_COURSE_THREADS says otherwise: the course's small models run 5-10x slower with 2
threads on a busy 2-core machine. A table of notebooks and times ends the run. The exit
status is non-zero when a notebook fails or runs out of time (the site is still built).
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_NAME = re.compile(r"^\d\d_.*\.ipynb$")
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def find_notebooks(folder, only=()):
    """The NN_*.ipynb files of `folder` in order; `only` keeps those starting with one of its prefixes."""
    paths = sorted(p for p in Path(folder).iterdir() if NOTEBOOK_NAME.match(p.name))
    if only:
        paths = [p for p in paths if any(p.name.startswith(prefix) for prefix in only)]
    return paths


def describe_failure(nb, cell_index, error):
    """A short report: which cell failed, its first source lines, and the error."""
    lines = [f"  failed in cell {cell_index}:"]
    if cell_index is not None and cell_index < len(nb.cells):
        source = nb.cells[cell_index].source.splitlines()
        lines += ["    | " + line for line in source[:6]]
        if len(source) > 6:
            lines.append("    | ...")
    if isinstance(error, CellTimeoutError):
        lines.append("  error: the notebook ran past its time limit (see --timeout)")
    elif isinstance(error, CellExecutionError):
        traceback = ANSI.sub("", error.traceback).strip().splitlines()
        lines += ["  error: " + f"{error.ename}: {error.evalue}"]
        lines += ["    " + line for line in traceback[-8:]]
    else:
        lines.append(f"  error: {type(error).__name__}: {ANSI.sub('', str(error)).strip()[:800]}")
    return "\n".join(lines)


def run_notebook(path, timeout):
    """Execute the notebook at `path`; return (nb, seconds, status, failure report or None)."""
    nb = nbformat.read(path, as_version=4)
    current = {"index": None}
    deadline = time.monotonic() + timeout
    client = NotebookClient(
        nb,
        kernel_name="python3",
        extra_arguments=["--log-level=ERROR"],  # no kernel start-up chatter between the reports
        resources={"metadata": {"path": str(path.parent)}},
        store_widget_state=True,  # so the site can show the widgets' last state
        # Each cell may use what is left of the notebook's time budget.
        timeout_func=lambda cell: max(1, int(deadline - time.monotonic())),
        on_cell_start=lambda cell, cell_index: current.update(index=cell_index),
    )
    start = time.monotonic()
    try:
        client.execute()
    except Exception as error:  # noqa: BLE001 - any failure is reported and the build goes on
        status = "timeout" if isinstance(error, CellTimeoutError) else "failed"
        return nb, time.monotonic() - start, status, describe_failure(nb, current["index"], error)
    return nb, time.monotonic() - start, "ok", None


def thread_count(value):
    """The --threads / $VAE_COURSE_THREADS value as an int >= 1 (argparse type)."""
    try:
        n = int(value)
    except (TypeError, ValueError):
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"threads must be a whole number >= 1, got {value!r}")
    return n


def kernel_environment(fast, threads, figures, dataset=None):
    """The variables every notebook kernel inherits (set in os.environ before the kernels start)."""
    env = {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), "VAE_COURSE_THREADS": str(threads),
           "VAE_COURSE_FIGURES": str(figures), "VAE_COURSE_FAST": "1" if fast else "0", "MPLBACKEND": "Agg"}
    if dataset is not None:
        env["VAE_COURSE_DATASET"] = dataset  # empty: the offline default
    return env


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fast", action="store_true", help="set VAE_COURSE_FAST=1 for the kernels")
    parser.add_argument("--only", nargs="+", default=(), metavar="NN",
                        help="run only the notebooks whose names start with these prefixes, e.g. --only 07 09")
    parser.add_argument("--notebooks", type=Path, default=ROOT / "notebooks", metavar="DIR",
                        help="folder of NN_*.ipynb notebooks (default: notebooks/)")
    parser.add_argument("--executed", type=Path, default=ROOT / "build" / "executed", metavar="DIR",
                        help="folder for the executed notebooks (default: build/executed/)")
    parser.add_argument("--figures", type=Path, default=None, metavar="DIR",
                        help="folder for the figures (default: $VAE_COURSE_FIGURES, else build/figures, or "
                             "build/fast-figures with --fast); `make figures` gives figures/")
    parser.add_argument("--dataset", default=None, metavar="NAME",
                        help="VAE_COURSE_DATASET for the notebooks (e.g. mnist; empty: the offline default)")
    parser.add_argument("--threads", type=thread_count, default=None, metavar="N",
                        help="CPU threads per notebook (default: $VAE_COURSE_THREADS, else 1)")
    parser.add_argument("--timeout", type=int, default=None, metavar="SECONDS",
                        help="time limit per notebook (default: 600 in fast mode, 3600 otherwise)")
    parser.add_argument("--no-student", action="store_true", help="skip the student version (site downloads)")
    parser.add_argument("--no-site", action="store_true", help="run the notebooks only; no website or slides")
    args = parser.parse_args(argv)

    if args.fast:
        os.environ["VAE_COURSE_FAST"] = "1"
    fast = os.environ.get("VAE_COURSE_FAST", "").strip().lower() in {"1", "true", "yes", "on"}
    threads = args.threads or thread_count(os.environ.get("VAE_COURSE_THREADS") or 1)
    figures = args.figures or (Path(os.environ["VAE_COURSE_FIGURES"]) if os.environ.get("VAE_COURSE_FIGURES")
                               else ROOT / "build" / ("fast-figures" if fast else "figures"))
    dataset = args.dataset if args.dataset is not None else os.environ.get("VAE_COURSE_DATASET")
    os.environ.update(kernel_environment(fast, threads, figures.resolve(), dataset))
    timeout = args.timeout or (600 if fast else 3600)

    notebooks = find_notebooks(args.notebooks, args.only)
    if not notebooks:
        print(f"No notebooks NN_*.ipynb in {args.notebooks}"
              + (f" starting with {' or '.join(args.only)}" if args.only else ""))
        return 1
    args.executed.mkdir(parents=True, exist_ok=True)
    if not args.only:  # a full run replaces the previous one
        for old in find_notebooks(args.executed):
            old.unlink()
    print(f"Running {len(notebooks)} notebook(s) in the {'fast' if fast else 'default'} mode, at most {timeout} s "
          f"each, {threads} thread(s), data set {dataset or 'the offline default'}, figures in {figures}")

    rows, failures = [], []
    for path in notebooks:
        print(f"  {path.name} ...", flush=True)
        nb, seconds, status, report = run_notebook(path, timeout)
        nbformat.write(nb, args.executed / path.name)
        rows.append({"notebook": path.name, "seconds": round(seconds, 1), "status": status})
        if report:
            failures.append(path.name)
            print(f"  {path.name}: {status}\n{report}", flush=True)
    run_file = args.executed / "run.json"
    previous = json.loads(run_file.read_text()) if args.only and run_file.is_file() else {}
    merged = {r["notebook"]: r for r in previous.get("notebooks", [])}
    merged.update({r["notebook"]: r for r in rows})
    run_file.write_text(json.dumps({
        "mode": "fast" if fast else "default", "dataset": dataset or "", "threads": threads,
        "finished": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "notebooks": [merged[k] for k in sorted(merged)]}, indent=1) + "\n")

    width = max(len(row["notebook"]) for row in rows)
    print(f"\n{'notebook':<{width}}  {'seconds':>8}  status")
    for row in rows:
        print(f"{row['notebook']:<{width}}  {row['seconds']:8.1f}  {row['status']}")
    print(f"{'total':<{width}}  {sum(r['seconds'] for r in rows):8.1f}")

    site_failed = False
    if not args.no_site:
        if not args.no_student:
            print("\nReleasing the student version into build/student/ (for the site's downloads)", flush=True)
            done = subprocess.run([sys.executable, str(ROOT / "scripts" / "release.py"), "--output",
                                   str(ROOT / "build" / "student")], capture_output=True, text=True)
            if done.returncode != 0:
                print(f"  the student version failed; the site offers the instructor notebooks only:\n"
                      f"{done.stdout[-1500:]}{done.stderr[-1500:]}")
        print("\nBuilding the website and slides (scripts/build_site.py)", flush=True)
        import build_site  # scripts/build_site.py

        site_failed = build_site.main(["--executed", str(args.executed)]) != 0
    if failures:
        print(f"\n{len(failures)} notebook(s) failed: {', '.join(failures)}")
        return 1
    return 1 if site_failed else 0


if __name__ == "__main__":
    sys.exit(main())
