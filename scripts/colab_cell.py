#!/usr/bin/env python
"""Put the "open in Colab" link and the install cell at the top of every course notebook.

    python scripts/colab_cell.py            # insert or update the two cells in notebooks/NN_*.ipynb
    python scripts/colab_cell.py --check    # exit 1 and name the notebooks whose cells are missing or stale

Each notebook starts with

1. a Markdown cell tagged ``colab-badge``: a link that opens the notebook in Google Colab
   (a plain link, no remote image, so that the built site fetches nothing);
2. a code cell tagged ``colab-install``: on Colab, or in any Python where ``vae_course`` is
   not importable, it pip-installs the course's helper package at the version of
   pyproject.toml from the repository (and nothing else: pip adds only what the package
   needs and Colab lacks). Where ``vae_course`` is importable (the local venv, the tests,
   nbgrader) it does nothing and prints nothing. ``VAE_COURSE_PIP_SOURCE`` overrides what is
   installed (a local path, a wheel, another git ref).

Both cells also carry the tag ``remove-cell`` (the site leaves them out; it shows its own
launch links) and the slides skip them. The repository and version come from pyproject.toml
(``[project.urls] Repository`` and ``[project] version``). Each notebook is loaded, changed and
saved in one step, so running this again is quick and safe; it handles notebooks added later.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_NAME = re.compile(r"^\d\d_.*\.ipynb$")
BADGE_TAG = "colab-badge"
INSTALL_TAG = "colab-install"
SITE_TAG = "remove-cell"  # myst-nb leaves the cell out of the site
COLAB = "https://colab.research.google.com/github"

INSTALL_SOURCE = '''\
# Colab (or any Python without the course package): install the helper package vae_course at
# the version these notebooks were written for. Where vae_course is importable, this does nothing.
import importlib.util, os, subprocess, sys

if importlib.util.find_spec("vae_course") is None:
    _source = os.environ.get("VAE_COURSE_PIP_SOURCE", "{requirement}")
    print(f"Installing {{_source}} (a minute on Colab) ...")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", _source], check=True)
    importlib.invalidate_caches()'''


def project_info(pyproject=None) -> dict:
    """``{'version', 'repository', 'github'}`` from pyproject.toml (github: 'owner/name')."""
    path = Path(pyproject) if pyproject is not None else ROOT / "pyproject.toml"
    project = tomllib.loads(path.read_text(encoding="utf-8"))["project"]
    repo = project.get("urls", {}).get("Repository", "")
    match = re.fullmatch(r"https://github\.com/([\w.-]+/[\w.-]+?)(?:\.git)?/?", repo)
    if not match:
        raise ValueError(f"pyproject.toml: [project.urls] Repository must be https://github.com/OWNER/NAME, "
                         f"got {repo!r}")
    return {"version": project["version"], "repository": repo.rstrip("/"), "github": match.group(1)}


def git_ref(info: dict) -> str:
    """The git tag of the release the notebooks belong to: v<version>."""
    return f"v{info['version']}"


def colab_url(notebook_name: str, info: dict) -> str:
    """The Colab address that opens ``notebooks/<notebook_name>`` of the release."""
    if not isinstance(notebook_name, str) or not NOTEBOOK_NAME.match(notebook_name):
        raise ValueError(f"notebook_name must be a file name NN_topic.ipynb, got {notebook_name!r}")
    return f"{COLAB}/{info['github']}/blob/{git_ref(info)}/notebooks/{notebook_name}"


def pip_requirement(info: dict) -> str:
    """What the install cell gives pip: the package from the repository at the release tag."""
    return f"vae-course @ git+{info['repository']}@{git_ref(info)}"


def badge_source(notebook_name: str, info: dict) -> str:
    return (f"[Open in Colab]({colab_url(notebook_name, info)}) · on Colab, run the next cell first: "
            "it installs the course's helper package.")


def install_source(info: dict) -> str:
    return INSTALL_SOURCE.format(requirement=pip_requirement(info))


def _tagged(nb, tag):
    return [i for i, cell in enumerate(nb.cells) if tag in cell.get("metadata", {}).get("tags", [])]


def _set_tags(cell, tag):
    tags = [t for t in cell.metadata.get("tags", []) if t not in (tag, SITE_TAG)]
    cell.metadata["tags"] = [tag, SITE_TAG] + tags


def update_notebook(nb, notebook_name: str, info: dict) -> bool:
    """Make cells 0 and 1 of ``nb`` the badge and the install cell; True when ``nb`` changed."""
    wanted = [(BADGE_TAG, "markdown", badge_source(notebook_name, info)),
              (INSTALL_TAG, "code", install_source(info))]
    before = nbformat.writes(nb)
    # take the existing cells out (wherever they are), then put fresh ones at the top
    found = {}
    for tag, _, _ in wanted:
        for i in reversed(_tagged(nb, tag)):
            found.setdefault(tag, nb.cells[i])
            del nb.cells[i]
    for position, (tag, kind, source) in enumerate(wanted):
        cell = found.get(tag)
        if cell is None or cell.cell_type != kind:
            cell = nbformat.v4.new_markdown_cell() if kind == "markdown" else nbformat.v4.new_code_cell()
        cell.source = source
        if kind == "code":
            cell.outputs, cell.execution_count = [], None
        _set_tags(cell, tag)
        nb.cells.insert(position, cell)
    return nbformat.writes(nb) != before


def check_notebook(nb, notebook_name: str, info: dict) -> list:
    """What is wrong with the two top cells of ``nb`` (an empty list when they are right)."""
    problems = []
    for position, (tag, source) in enumerate([(BADGE_TAG, badge_source(notebook_name, info)),
                                              (INSTALL_TAG, install_source(info))]):
        if len(nb.cells) <= position or tag not in nb.cells[position].metadata.get("tags", []):
            problems.append(f"cell {position} is not the {tag} cell")
        elif nb.cells[position].source != source:
            problems.append(f"the {tag} cell is stale (run scripts/colab_cell.py)")
        elif SITE_TAG not in nb.cells[position].metadata.get("tags", []):
            problems.append(f"the {tag} cell lacks the tag {SITE_TAG}")
    return problems


def find_notebooks(folder):
    return sorted(p for p in Path(folder).iterdir() if NOTEBOOK_NAME.match(p.name))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notebooks", type=Path, default=ROOT / "notebooks", metavar="DIR")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 when a notebook needs updating")
    args = parser.parse_args(argv)
    info = project_info()
    paths = find_notebooks(args.notebooks)
    if not paths:
        print(f"no NN_*.ipynb notebooks in {args.notebooks}")
        return 1
    bad = 0
    for path in paths:
        nb = nbformat.read(path, as_version=4)  # load, change, save in one step per notebook
        if args.check:
            problems = check_notebook(nb, path.name, info)
            if problems:
                bad += 1
                print(f"{path.name}: " + "; ".join(problems))
        elif update_notebook(nb, path.name, info):
            nbformat.write(nb, path)
            print(f"{path.name}: updated")
        else:
            print(f"{path.name}: up to date")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
