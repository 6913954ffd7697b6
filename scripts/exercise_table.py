#!/usr/bin/env python
"""Write the table of exercises and points per notebook into README.md.

    python scripts/exercise_table.py            # rewrite the table between the markers
    python scripts/exercise_table.py --check    # exit 1 (and show the difference) if it is stale
    python scripts/exercise_table.py --print    # print the table only

The table sits between the lines ``<!-- exercises:start -->`` and ``<!-- exercises:end -->``
of README.md. The exercises are read from the nbgrader metadata of notebooks/NN_*.ipynb
(one row per notebook: its autograded test cells and their points).
"""
from __future__ import annotations

import argparse
import difflib
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grading import course  # noqa: E402

START, END = "<!-- exercises:start -->", "<!-- exercises:end -->"


def short_name(ex: course.Exercise) -> str:
    """'ex00-class-counts-tests' -> 'class-counts'."""
    name = ex.exercise_id or ex.grade_id
    name = re.sub(r"-tests?$", "", name)
    return re.sub(r"^ex\d\d-", "", name)


def make_table(notebooks: list[Path]) -> str:
    lines = [
        "| # | notebook | exercises (points) | total |",
        "| --- | --- | --- | --- |",
    ]
    count = points = 0
    for nb in notebooks:
        exs = course.exercises_of(nb)
        total = sum(e.points for e in exs)
        listed = ", ".join(f"{short_name(e)} ({e.points:g})" for e in exs) or "none"
        lines.append(f"| {nb.name[:2]} | `{nb.stem}` | {listed} | {total:g} |")
        count += len(exs)
        points += total
    lines.append(f"| | **all** | {count} exercises | **{points:g}** |")
    return "\n".join(lines)


def replace_between_markers(text: str, table: str) -> str:
    if text.count(START) != 1 or text.count(END) != 1 or text.index(START) > text.index(END):
        raise SystemExit(f"README.md must hold one '{START}' line followed by one '{END}' line")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table}\n{END}{tail}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="do not write; exit 1 if README.md is out of date")
    parser.add_argument("--print", action="store_true", dest="print_only", help="print the table and exit")
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md")
    args = parser.parse_args(argv)

    table = make_table(course.find_notebooks())
    if args.print_only:
        print(table)
        return 0
    text = args.readme.read_text(encoding="utf-8")
    new = replace_between_markers(text, table)
    if args.check:
        if new != text:
            diff = difflib.unified_diff(text.splitlines(), new.splitlines(), "README.md", "expected", lineterm="")
            print("\n".join(diff))
            print("\nThe exercise table in README.md is out of date: run  python scripts/exercise_table.py")
            return 1
        print("README.md exercise table is up to date")
        return 0
    if new != text:
        args.readme.write_text(new, encoding="utf-8")
        print(f"updated the exercise table in {args.readme}")
    else:
        print("README.md exercise table already up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
