#!/usr/bin/env python
"""Offline HTML pages for the course: math, images and widgets without a network.

nbconvert's HTML loads MathJax, require.js and the Jupyter widget manager from CDNs. The
pages written here load local copies instead, put next to the pages at build time:

- ``_static/mathjax/``: MathJax 2.7 from the PyPI package ``jupyter-server-mathjax``
  (nbconvert's template configures MathJax 2), copied from the installed package;
- ``_static/widgets/``: ``embed-amd.js`` (and its fonts) of the npm package
  ``@jupyter-widgets/html-manager`` (the manager for ipywidgets 8) and ``require.js`` of the
  npm package ``requirejs``, fetched once with ``npm pack`` into ``build/js-cache/``
  (or taken from ``$VAE_COURSE_WIDGET_JS``, a folder holding those files).

Images in outputs are embedded (base64) by nbconvert, and Markdown images are embedded with
``embed_images``. Widgets: when the notebook was executed with the widget state stored
(nbclient ``store_widget_state=True``, see :func:`execute_notebook`) and the widget assets are
available, the page shows the widgets as they were at the end of the run (static: the controls
are drawn but nothing recomputes without a kernel). Otherwise each widget output falls back to
its static picture (the explorers of ``vae_course.widgets`` put a PNG next to the widget
view) or to a one-line note.

Use from a build script::

    from html_export import execute_notebook, export_notebook_html, write_index
    nb = execute_notebook(path, timeout=600)             # stores the widget state
    export_notebook_html(nb, out_dir / "07_vae.html", notebook_dir=path.parent)
    write_index([("07_vae.html", "07 · The VAE", "ok")], out_dir)

or from the command line (already executed notebooks, or ``--execute``)::

    python scripts/html_export.py notebooks/07_vae.ipynb --out build/html --execute
"""
from __future__ import annotations

import argparse
import copy
import html
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATIC = "_static"
MATHJAX_DIR = f"{STATIC}/mathjax"
WIDGETS_DIR = f"{STATIC}/widgets"
#: MathJax 2 configuration shipped by jupyter-server-mathjax (it has no CHTML build).
MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full,Safe"
#: npm packages of the widget manager: html-manager 1.0.x belongs to ipywidgets 8.1 / widgets protocol 2.
HTML_MANAGER = ("@jupyter-widgets/html-manager", "1.0.15")
REQUIREJS = ("requirejs", "2.3.8")
JS_CACHE = ROOT / "build" / "js-cache"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
WIDGET_NOTE = "[interactive widget: run the notebook in JupyterLab (make lab) to use it]"
_WIDGET_REPR = re.compile(r"^[A-Z][A-Za-z]*\(")
_FONT_SUFFIXES = (".woff", ".woff2", ".ttf", ".eot", ".svg")
# jupyter-server-mathjax ships only the STIX-Web fonts: tell MathJax's HTML-CSS output to use
# them (as the classic notebook does); without this it asks for TeX font files that are absent.
_MATHJAX_PRECONFIG = (
    '<script>window.MathJax = {"HTML-CSS": {availableFonts: [], preferredFont: null, '
    'webFont: "STIX-Web", imageFont: null}, menuSettings: {zoom: "None"}};</script>\n'
)

__all__ = [
    "copy_mathjax_assets",
    "copy_widget_assets",
    "execute_notebook",
    "export_notebook_html",
    "fetch_widget_assets",
    "mathjax_source_dir",
    "notebook_sections",
    "notebook_title",
    "write_index",
]


# ----------------------------------------------------------------------------- MathJax


def mathjax_source_dir() -> Path:
    """The MathJax 2 folder of the installed ``jupyter-server-mathjax`` package."""
    try:
        import jupyter_server_mathjax
    except ImportError:
        raise RuntimeError(
            "MathJax for offline pages comes from the PyPI package jupyter-server-mathjax; "
            "install it: .venv/bin/python -m pip install jupyter-server-mathjax"
        ) from None
    src = Path(jupyter_server_mathjax.__file__).resolve().parent / "static"
    if not (src / "MathJax.js").is_file():
        raise RuntimeError(f"jupyter-server-mathjax is installed but {src / 'MathJax.js'} is missing")
    return src


def _stamp(path: Path) -> str:
    return f"{path}:{path.stat().st_mtime_ns}"


def copy_mathjax_assets(out_dir) -> Path:
    """Copy MathJax into ``out_dir/_static/mathjax`` (once; skipped when already current).

    Returns the folder. Translations other than English are left out.
    """
    src = mathjax_source_dir()
    dest = Path(out_dir) / MATHJAX_DIR
    stamp_file = dest / ".source"
    stamp = _stamp(src / "MathJax.js")
    if stamp_file.is_file() and stamp_file.read_text() == stamp:
        return dest
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(src, dest, ignore=lambda d, names: ["localization"] if Path(d) == src else [])
    stamp_file.write_text(stamp)
    return dest


# ----------------------------------------------------------------------------- widget manager


def _npm_pack(npm: str, spec: str, dest: Path, timeout: float) -> Path:
    out = subprocess.run([npm, "pack", spec, "--silent", "--pack-destination", str(dest)],
                         capture_output=True, text=True, timeout=timeout, cwd=dest)
    if out.returncode != 0:
        raise RuntimeError(f"npm pack {spec} failed: {out.stderr.strip()[-400:]}")
    tgz = sorted(dest.glob("*.tgz"), key=lambda p: p.stat().st_mtime)
    if not tgz:
        raise RuntimeError(f"npm pack {spec} wrote no tarball")
    return tgz[-1]


def _complete(folder: Path) -> bool:
    return (folder / "embed-amd.js").is_file() and (folder / "require.js").is_file()


def fetch_widget_assets(cache_dir=None, npm=None, timeout: float = 180.0, quiet: bool = False):
    """The folder holding ``embed-amd.js`` (+ fonts) and ``require.js``, or None.

    Looks in ``$VAE_COURSE_WIDGET_JS``, then in the cache (``build/js-cache`` by default),
    and otherwise fetches the two npm packages with ``npm pack`` (no dependencies are
    installed: the files are self-contained bundles). Returns None, with a printed reason,
    when npm is missing or fails.
    """
    env = os.environ.get("VAE_COURSE_WIDGET_JS")
    if env:
        folder = Path(env)
        if _complete(folder):
            return folder
        if not quiet:
            print(f"VAE_COURSE_WIDGET_JS={env} lacks embed-amd.js or require.js; ignored", file=sys.stderr)
    cache = Path(cache_dir) if cache_dir is not None else JS_CACHE
    folder = cache / f"html-manager-{HTML_MANAGER[1]}_requirejs-{REQUIREJS[1]}"
    if _complete(folder):
        return folder
    npm = npm or shutil.which("npm")
    if npm is None:
        if not quiet:
            print("npm not found: widgets in the HTML pages fall back to static pictures", file=sys.stderr)
        return None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            staging = tmp / "out"
            staging.mkdir()
            (tmp / "a").mkdir()
            (tmp / "b").mkdir()
            manager = _npm_pack(npm, f"{HTML_MANAGER[0]}@{HTML_MANAGER[1]}", tmp / "a", timeout)
            with tarfile.open(manager) as tar:
                for member in tar.getmembers():
                    name = member.name
                    if not (member.isfile() and name.startswith("package/dist/")):
                        continue
                    base = name.rsplit("/", 1)[-1]
                    if base == "embed-amd.js" or base.endswith(_FONT_SUFFIXES):
                        (staging / base).write_bytes(tar.extractfile(member).read())
            requirejs = _npm_pack(npm, f"{REQUIREJS[0]}@{REQUIREJS[1]}", tmp / "b", timeout)
            with tarfile.open(requirejs) as tar:
                (staging / "require.js").write_bytes(tar.extractfile("package/require.js").read())
            if not _complete(staging):
                raise RuntimeError("the npm packages lack dist/embed-amd.js or require.js")
            folder.parent.mkdir(parents=True, exist_ok=True)
            if folder.exists():
                shutil.rmtree(folder)
            shutil.copytree(staging, folder)
    except (OSError, RuntimeError, subprocess.SubprocessError, tarfile.TarError) as err:
        if not quiet:
            print(f"could not fetch the widget manager with npm ({err}); widgets in the HTML pages "
                  "fall back to static pictures", file=sys.stderr)
        return None
    return folder


def copy_widget_assets(out_dir, cache_dir=None, quiet: bool = False):
    """Copy the widget manager and require.js into ``out_dir/_static/widgets``; the folder or None."""
    src = fetch_widget_assets(cache_dir, quiet=quiet)
    if src is None:
        return None
    dest = Path(out_dir) / WIDGETS_DIR
    stamp = _stamp(src / "embed-amd.js")
    if (dest / ".source").is_file() and (dest / ".source").read_text() == stamp:
        return dest
    if dest.exists():
        shutil.rmtree(dest)
    # browsers take the woff2/woff fonts; the svg/eot/ttf copies only serve very old ones
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("*.svg", "*.eot", "*.ttf"))
    (dest / ".source").write_text(stamp)
    return dest


# ----------------------------------------------------------------------------- notebooks


def execute_notebook(nb_or_path, timeout: int = 600, cwd=None, kernel_name: str = "python3"):
    """Run a notebook in a fresh kernel with the widget state stored; return the notebook.

    ``nb_or_path``: a path (its folder is the working directory) or a NotebookNode (then
    ``cwd`` is the working directory, default: the notebooks folder). Errors propagate
    (nbclient's CellExecutionError).
    """
    import nbformat
    from nbclient import NotebookClient

    if isinstance(nb_or_path, (str, os.PathLike)):
        path = Path(nb_or_path)
        nb = nbformat.read(path, as_version=4)
        cwd = path.parent if cwd is None else cwd
    else:
        nb = nb_or_path
        cwd = ROOT / "notebooks" if cwd is None else cwd
    NotebookClient(nb, timeout=timeout, kernel_name=kernel_name, store_widget_state=True,
                   resources={"metadata": {"path": str(cwd)}}).execute()
    return nb


def notebook_title(nb, default: str = "") -> str:
    """The text of the first Markdown heading, or ``default``."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return default


def _heading_id(text: str) -> str:
    # nbconvert's anchors: the heading's plain text with spaces replaced by '-'
    plain = re.sub(r"[*_`]", "", text).strip()
    return plain.replace(" ", "-")


def notebook_sections(nb, level: int = 2):
    """``(text, anchor)`` of the Markdown headings of the given level (``##`` by default)."""
    out, prefix = [], "#" * level + " "
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        in_code = False
        for line in cell.source.splitlines():
            if line.strip().startswith("```"):
                in_code = not in_code
            if not in_code and line.startswith(prefix):
                text = line[len(prefix):].strip()
                out.append((text, _heading_id(text)))
    return out


def _has_widget_state(nb) -> bool:
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {})
    return bool(state.get("state"))


def _static_widget_outputs(nb):
    """Drop the widget views: outputs show their PNG fallback, or a one-line note."""
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data")
            if not data or WIDGET_VIEW not in data:
                continue
            del data[WIDGET_VIEW]
            text = data.get("text/plain", "")
            text = "".join(text) if isinstance(text, list) else text
            # a bare widget repr such as "VBox(children=(...))" says nothing to a reader; a
            # useful one (tqdm's progress bar text) is kept
            if set(data) <= {"text/plain"} and (not text or _WIDGET_REPR.match(text)):
                data["text/plain"] = WIDGET_NOTE


def _relative(target: Path, start: Path) -> str:
    return Path(os.path.relpath(target, start)).as_posix()


def export_notebook_html(nb, out_path, *, notebook_dir=None, widgets: str = "auto", assets_dir=None,
                         quiet: bool = False) -> dict:
    """Write an executed notebook as an HTML page that renders offline.

    Parameters
    ----------
    nb : nbformat.NotebookNode
        The executed notebook (it is not modified).
    out_path : path
        The page to write; the assets go to ``assets_dir`` (default: the page's folder)
        under ``_static/`` and are referenced by relative URLs.
    notebook_dir : path, optional
        Where the notebook lives, to resolve Markdown images (default: ``notebooks/``).
    widgets : 'auto', 'live' or 'static'
        'auto': the stored widget state is rendered by the local widget manager when both
        exist, else static pictures; 'live' requires both (RuntimeError otherwise); 'static'
        always shows the static pictures.

    Returns ``{'path', 'widgets': 'live'|'static'|'none', 'mathjax': url}``.
    """
    from nbconvert import HTMLExporter

    if widgets not in ("auto", "live", "static"):
        raise ValueError(f"widgets must be 'auto', 'live' or 'static', got {widgets!r}")
    out_path = Path(out_path)
    if out_path.suffix != ".html":
        raise ValueError(f"out_path must end with .html, got {str(out_path)!r}")
    page_dir = out_path.parent
    page_dir.mkdir(parents=True, exist_ok=True)
    assets = Path(assets_dir) if assets_dir is not None else page_dir
    notebook_dir = Path(notebook_dir) if notebook_dir is not None else ROOT / "notebooks"
    nb = copy.deepcopy(nb)

    mathjax = copy_mathjax_assets(assets) / "MathJax.js"
    has_widgets = _has_widget_state(nb) or any(
        WIDGET_VIEW in out.get("data", {}) for c in nb.cells for out in c.get("outputs", []))
    widget_dir = None
    if has_widgets and widgets != "static" and _has_widget_state(nb):
        widget_dir = copy_widget_assets(assets, quiet=quiet)
    if widgets == "live" and widget_dir is None:
        raise RuntimeError("widgets='live' needs the stored widget state (execute with store_widget_state=True) "
                           "and the widget manager assets (npm, or $VAE_COURSE_WIDGET_JS)")
    if has_widgets and widget_dir is None:
        _static_widget_outputs(nb)
    mode = "none" if not has_widgets else ("live" if widget_dir is not None else "static")

    exporter = HTMLExporter(template_name="lab", embed_images=True)
    exporter.mathjax_url = f"{_relative(mathjax, page_dir)}?config={MATHJAX_CONFIG}"
    if widget_dir is not None:
        exporter.require_js_url = _relative(widget_dir / "require.js", page_dir)
        exporter.widget_renderer_url = _relative(widget_dir / "embed-amd.js", page_dir)
    else:
        exporter.require_js_url = ""
    resources = {"metadata": {"name": out_path.stem, "path": str(notebook_dir)}}
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    if widget_dir is None:  # no require.js needed without the widget manager: drop the empty tag
        body = body.replace('<script src=""></script>', "")
    mathjax_tag = f'<script src="{exporter.mathjax_url}">'
    if mathjax_tag not in body:
        raise RuntimeError(f"nbconvert's template changed: {mathjax_tag!r} not found in the page")
    body = body.replace(mathjax_tag, _MATHJAX_PRECONFIG + mathjax_tag, 1)
    out_path.write_text(body, encoding="utf-8")
    return {"path": out_path, "widgets": mode, "mathjax": exporter.mathjax_url}


_INDEX_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; max-width: 46rem;
       margin: 2rem auto; padding: 0 1rem; line-height: 1.5; color: #222; }
h1 { font-size: 1.8rem; margin-bottom: .2rem; }
ol.toc > li { margin: .6rem 0; font-size: 1.1rem; }
ol.toc ul { font-size: .95rem; margin: .2rem 0; color: #555; }
.status { color: #b00; font-weight: bold; }
.note { color: #555; }
"""


def write_index(entries, out_dir, title: str = "VAE course", note: str | None = None) -> Path:
    """Write ``out_dir/index.html``: the table of contents linking the pages in the given order.

    ``entries``: ``(page, title)``, ``(page, title, status)`` or ``(page, title, status,
    sections)`` per notebook, where ``status`` is 'ok' or a word shown next to the link
    ('failed', 'timeout') and ``sections`` is a list of ``(text, anchor)`` (see
    :func:`notebook_sections`). ``note`` is a line under the title (e.g. the run mode).
    """
    items = []
    for i, entry in enumerate(entries):
        if isinstance(entry, (str, bytes)) or not 2 <= len(entry) <= 4:
            raise ValueError(f"entries[{i}] must be (page, title[, status[, sections]]), got {entry!r}")
        page, name = str(entry[0]), str(entry[1])
        status = entry[2] if len(entry) > 2 else "ok"
        sections = entry[3] if len(entry) > 3 else ()
        line = f'<li><a href="{html.escape(page)}">{html.escape(name)}</a>'
        if status and status != "ok":
            line += f' <span class="status">({html.escape(str(status))})</span>'
        if sections:
            subs = "".join(f'<li><a href="{html.escape(page)}#{html.escape(anchor)}">{html.escape(text)}</a></li>'
                           for text, anchor in sections)
            line += f"<ul>{subs}</ul>"
        items.append(line + "</li>")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "index.html"
    note_html = f'<p class="note">{html.escape(note)}</p>\n' if note else ""
    path.write_text(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{html.escape(title)}</title>\n<style>{_INDEX_CSS}</style></head>\n<body>\n"
        f"<h1>{html.escape(title)}</h1>\n{note_html}<nav><ol class=\"toc\">\n" + "\n".join(items)
        + "\n</ol></nav>\n"
        f"<p class=\"note\">Built {time.strftime('%Y-%m-%d %H:%M')}; the pages work offline "
        "(MathJax and the widget manager are local copies under _static/).</p>\n</body></html>\n",
        encoding="utf-8")
    return path


# ----------------------------------------------------------------------------- command line


def main(argv=None) -> int:
    import nbformat

    parser = argparse.ArgumentParser(description="Write offline HTML pages (and index.html) for notebooks.")
    parser.add_argument("notebooks", nargs="+", type=Path, help="NN_*.ipynb files, in course order")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "html", help="output folder (default build/html)")
    parser.add_argument("--execute", action="store_true", help="run each notebook first (widget state stored)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell with --execute")
    parser.add_argument("--widgets", choices=("auto", "live", "static"), default="auto")
    args = parser.parse_args(argv)
    entries = []
    for path in args.notebooks:
        nb = execute_notebook(path, args.timeout) if args.execute else nbformat.read(path, as_version=4)
        page = path.with_suffix(".html").name
        info = export_notebook_html(nb, args.out / page, notebook_dir=path.parent, widgets=args.widgets)
        print(f"{page}: widgets {info['widgets']}")
        entries.append((page, notebook_title(nb, path.stem), "ok", notebook_sections(nb)))
    print(f"open {write_index(entries, args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
