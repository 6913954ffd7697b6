#!/usr/bin/env python
"""Build the course website and the lecture slides from the executed notebooks.

    python scripts/build_site.py                     # build/executed/*.ipynb -> build/site/
    python scripts/build_site.py --executed DIR --out DIR --student DIR

The notebooks are not run here: scripts/build_course.py runs them (``make course``) and
writes them, with their outputs, to build/executed/; ``make site`` only rebuilds the pages.

The site is Sphinx with myst-nb and sphinx-book-theme (site/conf.py): a sidebar with every
notebook and its sections, previous/next links, full-text search, light and dark modes,
math by a local MathJax 3, the outputs and figures of the run, Colab and Binder links, and
downloads of each notebook (instructor version, student version, as run). Each notebook
also becomes a reveal.js deck in slides/ (section headings, display equations, figures;
no long code; cell tags steer it, see :func:`slide_cells`). The API reference has one page
per module of vae_course, found at build time with pkgutil.

Only what no library does is done here:

- fetching the JavaScript that no PyPI package ships (the Jupyter widget manager,
  require.js and reveal.js) with ``npm pack``, at the versions pinned in site/package.json,
  into build/js-cache/ (or from ``$VAE_COURSE_SITE_JS``, a folder of unpacked packages);
  without npm the widgets show their static pictures and the slides are left out;
- turning a notebook into slide cells.

Everything the pages load lives under build/site/: open it with
``python -m http.server -d build/site`` and http://127.0.0.1:8000.
"""
from __future__ import annotations

import argparse
import base64
import copy
import hashlib
import html
import importlib
import json
import os
import pkgutil
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
import colab_cell  # noqa: E402  (project addresses, the Colab cell tags)

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "site"
NOTEBOOK_NAME = re.compile(r"^\d\d_.*\.ipynb$")
JS_CACHE = ROOT / "build" / "js-cache"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
IMAGE_TYPES = ("image/png", "image/jpeg", "image/svg+xml")
#: cell tags the slides read (a notebook author adds them in JupyterLab's property inspector)
SLIDE_TAG, SLIDE_SKIP_TAG, SLIDE_CODE_TAG = "slide", "slide-skip", "slide-code"
SKIP_TAGS = {SLIDE_SKIP_TAG, colab_cell.BADGE_TAG, colab_cell.INSTALL_TAG, "remove-cell"}
#: sections whose prose the slides keep whole
FULL_SECTIONS = ("learning objectives", "summary")
#: sections the slides show as a heading only
HEADING_ONLY_SECTIONS = ("references", "prerequisites")
MAX_CODE_LINES = 15
MAX_EQUATIONS_PER_SLIDE = 3
#: the MathJax 3 files the pages need (the PyPI package ships 24 MB; these are about 3.5 MB)
MATHJAX_FILES = ("tex-chtml.js", "output/chtml/fonts/woff-v2", "input/tex/extensions", "ui", "a11y/assistive-mml.js")

__all__ = ["discover_modules", "fetch_js_packages", "slide_cells", "build_site", "main"]


# ----------------------------------------------------------------------------- small helpers


def _write_if_changed(path: Path, data) -> bool:
    """Write bytes/str to ``path`` only when different, so Sphinx rebuilds only what changed."""
    data = data.encode("utf-8") if isinstance(data, str) else data
    if path.is_file() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return True


def _sync_tree(src: Path, dest: Path, ignore=()):
    """Copy a folder's files into ``dest`` where they differ; remove files that ``src`` lacks."""
    wanted = set()
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        if path.is_dir() or any(part in ignore or part == "__pycache__" for part in rel.parts):
            continue
        wanted.add(rel)
        _write_if_changed(dest / rel, path.read_bytes())
    return wanted


def find_notebooks(folder):
    folder = Path(folder)
    return sorted(p for p in folder.iterdir() if NOTEBOOK_NAME.match(p.name)) if folder.is_dir() else []


def notebook_title(nb, default=""):
    """The text of the notebook's first ``#`` heading."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return default


# ----------------------------------------------------------------------------- API pages


def discover_modules(package: str = "vae_course") -> list[str]:
    """The public modules of ``package`` (itself, its modules and subpackages), found with pkgutil.

    Names with a part starting with '_' are private and left out.
    """
    if not isinstance(package, str) or not package:
        raise ValueError(f"package must be a non-empty module name, got {package!r}")
    root = importlib.import_module(package)
    names = [package]
    if hasattr(root, "__path__"):
        for info in pkgutil.walk_packages(root.__path__, prefix=package + ".", onerror=lambda name: None):
            if not any(part.startswith("_") for part in info.name.split(".")):
                names.append(info.name)
    return sorted(names)


def write_api_pages(stage: Path, modules) -> list[str]:
    """One page per module (automodule) and api/index.md linking them; returns the page names."""
    api = stage / "api"
    api.mkdir(parents=True, exist_ok=True)
    pages = []
    for name in modules:
        title = f"``{name}``"
        try:
            module = importlib.import_module(name)
        except Exception as err:  # noqa: BLE001 - a broken module gets a page that says so
            summary = f"could not be imported: {type(err).__name__}: {err}"
            print(f"API reference: {name} {summary}", file=sys.stderr)
            _write_if_changed(api / f"{name}.rst", f"{title}\n{'=' * len(title)}\n\n.. warning::\n\n"
                              f"   This module could not be imported when the site was built: "
                              f"``{type(err).__name__}: {err}``\n")
            pages.append((name, summary))
            continue
        summary = (module.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
        _write_if_changed(api / f"{name}.rst", f"{title}\n{'=' * len(title)}\n\n.. automodule:: {name}\n"
                          "   :members:\n   :show-inheritance:\n")
        pages.append((name, summary))
    for old in api.glob("*.rst"):
        if old.stem not in dict(pages):
            old.unlink()
    rows = "\n".join(f"| {{py:mod}}`{name}` | {summary.replace('|', '&#124;')} |" for name, summary in pages)
    _write_if_changed(api / "index.md", "# API reference\n\n"
                      "The helper package `vae_course` that the notebooks import: one page per module, each "
                      "public function and class with its signature and docstring.\n\n"
                      "| module | what it holds |\n| --- | --- |\n" + rows + "\n\n"
                      "```{toctree}\n:hidden:\n:maxdepth: 1\n\n" + "\n".join(n for n, _ in pages) + "\n```\n")
    return [n for n, _ in pages]


# ----------------------------------------------------------------------------- JavaScript


def npm_pins(package_json=None) -> dict:
    """``{npm package: version}`` pinned in site/package.json."""
    data = json.loads(Path(package_json or SITE / "package.json").read_text(encoding="utf-8"))
    return dict(data["dependencies"])


def _npm_pack(npm, spec, dest: Path, timeout):
    out = subprocess.run([npm, "pack", spec, "--silent", "--pack-destination", str(dest)],
                         capture_output=True, text=True, timeout=timeout, cwd=dest)
    if out.returncode != 0:
        raise RuntimeError(f"npm pack {spec} failed: {out.stderr.strip()[-400:]}")
    found = sorted(dest.glob("*.tgz"))
    if not found:
        raise RuntimeError(f"npm pack {spec} wrote no tarball")
    return found[-1]


def fetch_js_packages(cache=None, npm=None, timeout=300.0, quiet=False, fetch=True):
    """``{npm package: unpacked folder}`` for the pins of site/package.json, or None without npm.

    A folder in ``$VAE_COURSE_SITE_JS`` named like the cache's (``<name>@<version>``, with '/'
    as '+') is used first; then the cache; otherwise ``npm pack`` fetches the tarball (the
    package alone, no dependencies). ``fetch=False`` never asks npm (the tests: no network).
    """
    pins = npm_pins()
    cache = Path(cache) if cache is not None else JS_CACHE
    sources = [Path(os.environ["VAE_COURSE_SITE_JS"])] if os.environ.get("VAE_COURSE_SITE_JS") else []
    sources.append(cache)
    found = {}
    npm = npm or shutil.which("npm")
    for name, version in pins.items():
        key = f"{name}@{version}".replace("/", "+")
        hit = next((s / key for s in sources if (s / key / "package.json").is_file()), None)
        if hit is None:
            if npm is None or not fetch:
                if not quiet:
                    why = "npm not found" if fetch else f"not in {cache} (make setup fetches it)"
                    print(f"{why}: no {name}@{version}", file=sys.stderr)
                return None
            try:
                with tempfile.TemporaryDirectory() as tmp:
                    tgz = _npm_pack(npm, f"{name}@{version}", Path(tmp), timeout)
                    unpack = Path(tmp) / "unpacked"
                    with tarfile.open(tgz) as tar:
                        tar.extractall(unpack, filter="data")
                    hit = cache / key
                    if hit.exists():
                        shutil.rmtree(hit)
                    hit.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copytree(unpack / "package", hit)
            except (OSError, RuntimeError, subprocess.SubprocessError, tarfile.TarError) as err:
                if not quiet:
                    print(f"could not fetch {name}@{version} with npm: {err}", file=sys.stderr)
                return None
        found[name] = hit
    return found


def copy_widget_manager(js, dest: Path, fonts_dest: Path) -> bool:
    """embed-amd.js and require.js into ``dest``, its fonts into ``fonts_dest``; False when not available."""
    if not js:
        return False
    manager = js["@jupyter-widgets/html-manager"] / "dist"
    for name, path in {"embed-amd.js": manager / "embed-amd.js", "require.js": js["requirejs"] / "require.js"}.items():
        _write_if_changed(dest / name, path.read_bytes())
    # the manager's icon fonts: it asks for them at <site>/@jupyter-widgets/html-manager/dist/
    for path in manager.iterdir():
        if path.suffix in (".woff", ".woff2", ".ttf"):
            _write_if_changed(fonts_dest / path.name, path.read_bytes())
    return True


def copy_reveal(js, dest: Path) -> bool:
    """reveal.js's dist/ and its notes plugin into ``dest``; False when not available."""
    if not js:
        return False
    src = js["reveal.js"]
    for rel in ("dist/reveal.js", "dist/reveal.css", "dist/reset.css", "dist/theme/white.css", "plugin/notes/notes.js"):
        _write_if_changed(dest / rel, (src / rel).read_bytes())
    fonts = "dist/theme/fonts/source-sans-pro"  # white.css's font; browsers take the woff files
    for path in (src / fonts).iterdir():
        if path.suffix in (".woff", ".css") or path.name == "LICENSE":
            _write_if_changed(dest / fonts / path.name, path.read_bytes())
    return True


def mathjax_source() -> Path:
    """MathJax 3 as shipped by the PyPI package sphinx-mathjax-offline."""
    spec = importlib.util.find_spec("sphinx-mathjax-offline")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the site's MathJax comes from the PyPI package sphinx-mathjax-offline: "
                           "pip install -e '.[site]'")
    folder = Path(list(spec.submodule_search_locations)[0]) / "static" / "mathjax"
    if not (folder / "tex-chtml.js").is_file():
        raise RuntimeError(f"sphinx-mathjax-offline is installed but {folder / 'tex-chtml.js'} is missing")
    return folder


def copy_mathjax(dest: Path):
    src = mathjax_source()
    for rel in MATHJAX_FILES:
        if (src / rel).is_dir():
            _sync_tree(src / rel, dest / rel)
        else:
            _write_if_changed(dest / rel, (src / rel).read_bytes())


# ----------------------------------------------------------------------------- slides

_DISPLAY_MATH = re.compile(r"\$\$.+?\$\$|\\begin\{(align\*?|equation\*?|gather\*?)\}.+?\\end\{\1\}", re.S)


def _tags(cell):
    return set(cell.get("metadata", {}).get("tags", []))


def _image_outputs(cell):
    """The pictures a code cell showed (the widgets' static PNG included), as <img> tags."""
    images = []
    for out in cell.get("outputs", []):
        data = out.get("data", {})
        for mime in IMAGE_TYPES:
            if mime in data:
                payload = data[mime]
                payload = "".join(payload) if isinstance(payload, list) else payload
                if mime == "image/svg+xml":
                    payload = base64.b64encode(payload.encode("utf-8")).decode("ascii")
                images.append(f'<img src="data:{mime};base64,{payload.strip()}" alt="figure">')
                break
    return images


def _lead_sentence(text: str, limit: int = 200) -> str:
    """The first sentence of the first paragraph of ``text`` when it is short, whole and plain
    (no display math, no list, inline math closed), else ''."""
    paragraph = next((p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()), "")
    if not paragraph or paragraph.startswith(("$$", "-", "*", "|", "<", ">", "```", "\\begin", "1.")):
        return ""
    paragraph = " ".join(paragraph.split())
    match = re.match(r"(.+?[.:!?])(\s|$)", paragraph)
    sentence = match.group(1) if match else paragraph
    if len(sentence) > limit or sentence.count("$") % 2 or "$$" in sentence:
        return ""
    return sentence


def slide_cells(nb):
    """The deck of a notebook as ``[(slide_type, markdown or code source, kind)]``.

    Rules, in order (cell tags first):

    - ``slide-skip``, the Colab cells, ``remove-cell`` and nbgrader exercise cells: left out;
    - ``slide``: the whole cell on a new slide (Markdown, or code with its figures);
    - ``slide-code``: the code on a new slide (cut at 15 lines), then its figures;
    - the title: a title slide; a ``##`` or ``###`` heading starts a slide;
    - the prose of "Learning objectives" and "Summary" is kept whole; other prose is left
      out, except the first sentence under a heading (when short), but its display
      equations ($$...$$, align, equation) are shown, at most three a slide;
    - a code cell's figures go one a slide: the first on the slide of the heading just before
      (or of its shown code), the others on slides of their own under the current heading;
      the code is left out; sections shown as a heading only show no figures.

    ``slide_type`` is reveal's: 'slide' or '-' (same slide); the deck is one row, so the
    arrow keys and space step through all of it.
    """
    deck, section, heading, equations = [], "", "", 0
    for cell in nb.cells:
        tags = _tags(cell)
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if tags & SKIP_TAGS or meta.get("solution") or meta.get("grade"):
            continue
        if cell.cell_type == "markdown":
            if SLIDE_TAG in tags:
                deck.append(("slide", cell.source, "markdown"))
                equations = 0
                continue
            text_lines, in_full = [], section.lower().startswith(FULL_SECTIONS)
            for line in cell.source.splitlines():
                match = re.match(r"^(#{1,3})\s+(.*)$", line)
                if match:
                    level, heading_text = len(match.group(1)), match.group(2).strip()
                    if text_lines and in_full:
                        deck.append(("-", "\n".join(text_lines), "markdown"))
                    text_lines = []
                    if level == 1:
                        deck.append(("slide", f"# {heading_text}", "markdown"))
                    elif level == 2:
                        section = re.sub(r"^\d+\.\s*", "", heading_text)
                        heading = heading_text
                        deck.append(("slide", f"## {heading_text}", "markdown"))
                    else:
                        heading = heading_text
                        deck.append(("slide", f"### {heading_text}", "markdown"))
                    equations = 0
                    in_full = section.lower().startswith(FULL_SECTIONS)
                    continue
                text_lines.append(line)
            if in_full and "\n".join(text_lines).strip():
                deck.append(("-", "\n".join(text_lines), "markdown"))
            elif not section.lower().startswith(HEADING_ONLY_SECTIONS):
                lead = _lead_sentence("\n".join(text_lines))
                if lead and deck and re.fullmatch(r"#{2,3} .*", deck[-1][1]):  # a line under a heading
                    deck.append(("-", f'<p class="course-slide-lead">{lead}</p>', "markdown"))
                for match in _DISPLAY_MATH.finditer(cell.source):
                    if equations >= MAX_EQUATIONS_PER_SLIDE:
                        deck.append(("slide", f"### {heading} (continued)" if heading else "", "markdown"))
                        equations = 0
                    deck.append(("-", match.group(0), "markdown"))
                    equations += 1
        elif cell.cell_type == "code":
            images = _image_outputs(cell)
            if SLIDE_CODE_TAG in tags or SLIDE_TAG in tags:
                lines = cell.source.splitlines()
                code = "\n".join(lines[:MAX_CODE_LINES] + (["# ..."] if len(lines) > MAX_CODE_LINES else []))
                deck.append(("slide", code, "code"))
            if images and not section.lower().startswith(HEADING_ONLY_SECTIONS):
                shown = SLIDE_CODE_TAG in tags or SLIDE_TAG in tags
                bare_heading = bool(deck) and re.fullmatch(r"#{2,3} .*", deck[-1][1]) is not None
                for number, image in enumerate(images):  # one figure a slide
                    if number == 0 and (shown or bare_heading):  # on the slide of the code, or of the heading
                        deck.append(("-", image, "markdown"))
                    else:
                        deck.append(("slide", (f"### {heading}\n\n" if heading else "") + image, "markdown"))
                equations = 0
    return [d for d in deck if d[1].strip()]


def slides_notebook(nb, source_name: str):
    """A notebook holding only the deck's cells, with reveal's slide metadata."""
    v4 = nbformat.v4
    cells = []
    for slide_type, source, kind in slide_cells(nb):
        cell = v4.new_markdown_cell(source) if kind == "markdown" else v4.new_code_cell(source)
        cell.metadata["slideshow"] = {"slide_type": slide_type}
        cells.append(cell)
    if cells:
        cells[0].source += (f'\n\n<p class="course-slide-source">Slides of <code>notebooks/{html.escape(source_name)}'
                            "</code> (arrow keys or space to advance, S: speaker view)</p>")
    out = v4.new_notebook(cells=cells, metadata=copy.deepcopy({k: v for k, v in nb.metadata.items()
                                                                if k in ("kernelspec", "language_info")}))
    return out


def write_slides(nb, source_name: str, out_path: Path, mathjax_url: str, reveal_url: str) -> int:
    """Write the reveal.js deck of ``nb``; returns the number of slide cells."""
    from nbconvert import SlidesExporter

    deck = slides_notebook(nb, source_name)
    exporter = SlidesExporter(template_name="vae-reveal", extra_template_basedirs=[str(SITE / "slides_template")])
    exporter.reveal_url_prefix = reveal_url
    exporter.reveal_theme = "white"  # the one theme copied next to the decks
    exporter.mathjax_url = mathjax_url
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    body, _ = exporter.from_notebook_node(deck, resources={"metadata": {"name": Path(source_name).stem}})
    _write_if_changed(out_path, body)
    return len(deck.cells)


# ----------------------------------------------------------------------------- pages


def launch_links(name: str, info: dict, student: bool, slides: bool, status: str = "ok") -> str:
    """The links under a notebook's title: Colab, Binder, downloads, slides."""
    ref = colab_cell.git_ref(info)
    binder = f"https://mybinder.org/v2/gh/{info['github']}/{ref}?urlpath=lab/tree/notebooks/{name}"
    stem = Path(name).stem
    links = [f'<a class="course-colab" href="{html.escape(colab_cell.colab_url(name, info))}">Open in Colab</a>',
             f'<a class="course-binder" href="{html.escape(binder)}">Launch on Binder</a>',
             '<span class="course-label">Download:</span>',
             f'<a class="course-download" href="downloads/instructor/{name}" download>instructor notebook</a>']
    if student:
        links.append(f'<a class="course-download" href="downloads/student/{name}" download>student notebook</a>')
    if slides:
        links.append(f'<a class="course-slides" href="slides/{stem}.slides.html">slides</a>')
    text = '<div class="course-launch">\n' + "\n".join(links) + "\n</div>"
    if status != "ok":
        text += (f'\n\n```{{warning}}\nThis notebook did not finish in the last run ({status}): the outputs '
                 "below stop where it failed.\n```")
    return text


def stage_notebook(executed: Path, name: str, stage: Path, links: str):
    """Copy the executed notebook into the Sphinx source folder, the badge cell replaced by ``links``."""
    nb = nbformat.read(executed, as_version=4)
    for index, cell in enumerate(nb.cells):
        if colab_cell.BADGE_TAG in _tags(cell):
            nb.cells[index] = nbformat.v4.new_markdown_cell(links, id=cell.get("id", "colab-badge"))
            break
    else:
        nb.cells.insert(1 if nb.cells else 0, nbformat.v4.new_markdown_cell(links))
    _write_if_changed(stage / name, nbformat.writes(nb))
    return nb


def build_site(executed_dir: Path, out: Path, *, student_dir=None, notebooks_dir=None, stage=None,
               slides: bool = True, quiet: bool = False, fetch: bool = True) -> dict:
    """Build the site from the executed notebooks of ``executed_dir`` into ``out``; returns a summary.

    ``student_dir``: nbgrader's student notebooks (scripts/release.py), offered for download
    when given and present; ``notebooks_dir``: the instructor notebooks (default notebooks/);
    ``fetch=False``: use the JavaScript already in the cache, never npm.
    """
    start = time.monotonic()
    executed_dir, out = Path(executed_dir), Path(out)
    notebooks_dir = Path(notebooks_dir) if notebooks_dir is not None else ROOT / "notebooks"
    stage = Path(stage) if stage is not None else out.parent / (out.name + "-src")
    executed = find_notebooks(executed_dir)
    if not executed:
        raise FileNotFoundError(f"no executed notebooks NN_*.ipynb in {executed_dir}: run "
                                "`make course` (or scripts/build_course.py) first")
    if stage.resolve() in (SITE.resolve(), out.resolve()):
        raise ValueError(f"stage must be a folder of its own, got {stage}")
    info = colab_cell.project_info()
    run = {}
    if (executed_dir / "run.json").is_file():
        run = json.loads((executed_dir / "run.json").read_text(encoding="utf-8"))
    statuses = {row["notebook"]: row["status"] for row in run.get("notebooks", [])}

    # 1. the Sphinx source folder: site/, then what is generated
    kept = _sync_tree(SITE, stage, ignore={"slides_template", "index.md"})
    mode = run.get("mode", "unknown")
    note = f"{mode} mode" + (f", data set {run['dataset']}" if run.get("dataset") else "")
    if run.get("finished"):
        note += f", {run['finished']}"
    _write_if_changed(stage / "index.md", (SITE / "index.md").read_text(encoding="utf-8").replace("@RUN_NOTE@", note))
    js = fetch_js_packages(quiet=quiet, fetch=fetch)
    widgets = copy_widget_manager(js, stage / "_static" / "widgets",
                                  stage / "extra" / "@jupyter-widgets" / "html-manager" / "dist")
    _write_if_changed(stage / "site_settings.json", json.dumps({
        "version": info["version"], "repository": info["repository"], "git_ref": colab_cell.git_ref(info),
        "widgets": "live" if widgets else "static"}, indent=1))
    copy_mathjax(stage / "_static" / "mathjax")
    modules = write_api_pages(stage, discover_modules())

    extra = stage / "extra"
    student_dir = Path(student_dir) if student_dir else None
    has_student = bool(student_dir and find_notebooks(student_dir))
    slides = slides and copy_reveal(js, extra / "slides" / "reveal.js")
    names, decks = [], {}
    for path in executed:
        name = path.name
        names.append(name)
        source = notebooks_dir / name
        if source.is_file():  # the instructor notebook as committed (no outputs)
            _write_if_changed(extra / "downloads" / "instructor" / name, source.read_bytes())
        if has_student and (student_dir / name).is_file():
            _write_if_changed(extra / "downloads" / "student" / name, (student_dir / name).read_bytes())
        links = launch_links(name, info, has_student and (student_dir / name).is_file(), slides,
                             statuses.get(name, "ok"))
        nb = stage_notebook(path, name, stage, links)
        if slides:
            decks[name] = write_slides(nb, name, extra / "slides" / f"{path.stem}.slides.html",
                                       mathjax_url="../_static/mathjax/tex-chtml.js", reveal_url="reveal.js")
    for old in stage.glob("[0-9][0-9]_*.ipynb"):  # notebooks that are gone
        if old.name not in names:
            old.unlink()
    for sub in ("instructor", "student"):
        for old in (extra / "downloads" / sub).glob("*.ipynb"):
            if old.name not in names or (sub == "student" and not has_student):
                old.unlink()
    for old in (extra / "slides").glob("*.slides.html"):
        if old.name.replace(".slides.html", ".ipynb") not in decks:
            old.unlink()

    rows = []
    for name in names:
        nb_title = notebook_title(nbformat.read(stage / name, as_version=4), name)
        stem = Path(name).stem
        deck = f'<a href="slides/{stem}.slides.html">{stem}.slides.html</a> ({decks[name]} slide cells)' \
            if name in decks else "not built (reveal.js unavailable: npm missing)"
        rows.append(f"<li><b>{html.escape(nb_title)}</b>: {deck}</li>")
    _write_if_changed(stage / "slides.md", "# Slides\n\nOne reveal.js deck per notebook, made from the executed "
                      "notebook: its section headings, key equations and figures, without the long code. "
                      "They work offline. Keys: arrows or space to advance, `Esc` for the overview, `S` for the "
                      "speaker view, `F` for full screen. Print to PDF by opening a deck with `?print-pdf` "
                      "at the end of its address.\n\nCell tags steer a deck: `slide` shows a whole cell, "
                      "`slide-code` shows a cell's code, `slide-skip` leaves a cell out.\n\n"
                      "<ul>\n" + "\n".join(rows) + "\n</ul>\n")
    stale = [p for p in stage.iterdir() if p.is_file() and p.relative_to(stage) not in kept
             and not NOTEBOOK_NAME.match(p.name) and p.name not in ("index.md", "slides.md", "site_settings.json")]
    for p in stale:
        p.unlink()

    # 2. Sphinx
    doctrees = out.parent / (out.name + "-doctrees")
    command = [sys.executable, "-m", "sphinx", "-b", "html", "-d", str(doctrees), "-q", str(stage), str(out)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    warnings = [line for line in (done.stderr or "").splitlines() if "WARNING" in line or "ERROR" in line]
    if done.returncode != 0:
        raise RuntimeError(f"sphinx-build failed ({done.returncode}):\n{done.stderr[-3000:]}")
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    summary = {"out": out, "notebooks": names, "modules": modules, "slides": decks, "widgets": widgets,
               "student": has_student, "seconds": time.monotonic() - start, "bytes": size, "warnings": warnings}
    if not quiet:
        print(f"site: {len(names)} notebooks, {len(decks)} slide decks, {len(modules)} API pages, "
              f"widgets {'live' if widgets else 'static'}, student downloads {'yes' if has_student else 'no'}; "
              f"{summary['seconds']:.0f} s, {size / 2**20:.1f} MiB, {len(warnings)} Sphinx warnings")
    return summary


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--executed", type=Path, default=ROOT / "build" / "executed", metavar="DIR",
                        help="the executed notebooks (default build/executed, written by build_course.py)")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "site", metavar="DIR", help="default build/site")
    parser.add_argument("--student", type=Path, default=ROOT / "build" / "student" / "vae-course-student" / "notebooks",
                        metavar="DIR", help="nbgrader's student notebooks, offered for download when present")
    parser.add_argument("--no-slides", action="store_true", help="leave the reveal.js decks out")
    parser.add_argument("--fetch-js", action="store_true",
                        help="only fetch the JavaScript of site/package.json into build/js-cache (make setup does)")
    parser.add_argument("--show-warnings", action="store_true", help="print Sphinx's warnings")
    args = parser.parse_args(argv)
    if args.fetch_js:
        found = fetch_js_packages()
        if found is None:
            print("build_site: the site will show the widgets' static pictures and have no slides", file=sys.stderr)
            return 0  # not an error: the site falls back
        (JS_CACHE / ".complete").write_text(json.dumps({k: str(v) for k, v in found.items()}, indent=1))
        print("JavaScript for the site: " + ", ".join(f"{k} {v.name.split('@')[-1]}" for k, v in found.items()))
        return 0
    try:
        summary = build_site(args.executed, args.out, student_dir=args.student, slides=not args.no_slides)
    except (FileNotFoundError, RuntimeError, ValueError) as err:
        print(f"build_site: {err}", file=sys.stderr)
        return 1
    if args.show_warnings:
        print("\n".join(summary["warnings"]))
    out = summary["out"]
    try:
        out = out.relative_to(Path.cwd())
    except ValueError:
        pass
    print(f"serve it: python -m http.server -d {out}   (then open http://127.0.0.1:8000)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
