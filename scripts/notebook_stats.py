"""Cells, words of prose and lines of code of each notebook, the course's length measures.

    python scripts/notebook_stats.py [notebooks/NN_name.ipynb ...]

Words are every whitespace-separated token of the Markdown cells (formulas included);
the course keeps each notebook to about 3,000 words and at most 55 cells.
"""
from __future__ import annotations

import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
MAX_CELLS, MAX_WORDS = 55, 3000


def stats(path: Path) -> dict:
    nb = nbformat.read(path, as_version=4)
    return {
        "cells": len(nb.cells),
        "words": sum(len(c.source.split()) for c in nb.cells if c.cell_type == "markdown"),
        "code_lines": sum(len(c.source.splitlines()) for c in nb.cells if c.cell_type == "code"),
    }


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv] or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    print(f"{'notebook':42s} {'cells':>5s} {'words':>6s} {'code lines':>10s}")
    for p in paths:
        s = stats(p)
        flag = "  (over)" if s["cells"] > MAX_CELLS or s["words"] > MAX_WORDS else ""
        print(f"{p.stem:42s} {s['cells']:5d} {s['words']:6d} {s['code_lines']:10d}{flag}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
