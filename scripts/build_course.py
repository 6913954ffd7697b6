#!/usr/bin/env python
"""Run every course notebook in a fresh kernel and write an HTML page for each.

    python scripts/build_course.py            # default mode: meaningful pictures, minutes
    python scripts/build_course.py --fast     # VAE_COURSE_FAST=1: seconds per notebook
    python scripts/build_course.py --only 07 09

Notebooks are `NN_*.ipynb` in the notebooks folder, run in order with that folder as the
working directory. The pages go to build/html/, with build/html/index.html linking them.
The exit status is non-zero when a notebook fails or runs out of time.
"""

import argparse
import os
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError

import html_export  # scripts/html_export.py: offline pages (local MathJax, widget manager)

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
        store_widget_state=True,  # so the HTML pages can show the widgets' last state
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fast", action="store_true", help="set VAE_COURSE_FAST=1 for the kernels")
    parser.add_argument("--only", nargs="+", default=(), metavar="NN",
                        help="run only the notebooks whose names start with these prefixes, e.g. --only 07 09")
    parser.add_argument("--notebooks", type=Path, default=ROOT / "notebooks", metavar="DIR",
                        help="folder of NN_*.ipynb notebooks (default: notebooks/)")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "html", metavar="DIR",
                        help="folder for the HTML pages (default: build/html/)")
    parser.add_argument("--timeout", type=int, default=None, metavar="SECONDS",
                        help="time limit per notebook (default: 600 in fast mode, 3600 otherwise)")
    args = parser.parse_args(argv)

    if args.fast:
        os.environ["VAE_COURSE_FAST"] = "1"
    fast = os.environ.get("VAE_COURSE_FAST", "").strip().lower() in {"1", "true", "yes", "on"}
    if fast:
        # Fast-mode figures are for checking only: keep them away from the committed figures/.
        os.environ.setdefault("VAE_COURSE_FIGURES", str(ROOT / "build" / "fast-figures"))
    timeout = args.timeout or (600 if fast else 3600)

    notebooks = find_notebooks(args.notebooks, args.only)
    if not notebooks:
        print(f"No notebooks NN_*.ipynb in {args.notebooks}"
              + (f" starting with {' or '.join(args.only)}" if args.only else ""))
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"Running {len(notebooks)} notebook(s) in the {'fast' if fast else 'default'} mode, "
          f"at most {timeout} s each")

    rows, entries, failures = [], [], []
    for path in notebooks:
        print(f"  {path.name} ...", flush=True)
        nb, seconds, status, report = run_notebook(path, timeout)
        page = path.with_suffix(".html").name
        html_export.export_notebook_html(nb, args.out / page, notebook_dir=path.parent)
        rows.append((path.name, seconds, status))
        entries.append((page, html_export.notebook_title(nb, path.stem), status, html_export.notebook_sections(nb)))
        if report:
            failures.append(path.name)
            print(f"  {path.name}: {status}\n{report}", flush=True)
    mode = "fast mode (VAE_COURSE_FAST=1)" if fast else "default mode"
    html_export.write_index(entries, args.out, note=f"Notebooks run in the {mode}.")

    width = max(len(name) for name, _, _ in rows)
    print(f"\n{'notebook':<{width}}  {'seconds':>8}  status")
    for name, seconds, status in rows:
        print(f"{name:<{width}}  {seconds:8.1f}  {status}")
    index = args.out / "index.html"
    try:
        index = index.relative_to(Path.cwd())
    except ValueError:
        pass
    print(f"\nopen {index}")
    if failures:
        print(f"\n{len(failures)} notebook(s) failed: {', '.join(failures)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
