"""Every notebook keeps to the course's shape: a title that carries its own number, a read-and-run
time at the top, "Where this leads" at the end, and a length one sitting can take (at most 55 cells
and about 3,000 words of prose, counted as scripts/notebook_stats.py counts them)."""
import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import notebook_stats  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_the_notebooks_are_numbered_without_gaps():
    numbers = [int(p.name[:2]) for p in NOTEBOOKS]
    assert numbers == list(range(len(numbers))), numbers


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_length(path):
    s = notebook_stats.stats(path)
    assert s["cells"] <= notebook_stats.MAX_CELLS, f"{path.name}: {s['cells']} cells"
    assert s["words"] <= notebook_stats.MAX_WORDS, f"{path.name}: {s['words']} words of Markdown"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_title_time_and_where_this_leads(path):
    nb = nbformat.read(path, as_version=4)
    md = [c.source for c in nb.cells if c.cell_type == "markdown"]
    titles = [line for src in md for line in src.splitlines() if line.startswith("# ")]
    assert titles and titles[0].startswith(f"# {path.name[:2]} "), f"{path.name}: title {titles[:1]}"
    head = "\n".join(md[:4])
    assert "**Time:**" in head, f"{path.name}: no read-and-run time at the top"
    assert any(re.search(r"^(#+ Where this leads|\*\*Where this leads\.\*\*)", src, re.M) for src in md[-4:]), \
        f"{path.name}: no 'Where this leads' section at the end"
