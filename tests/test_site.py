"""The course website and slides (scripts/build_site.py), built and checked in a real browser.

The site is built once for this module from a folder of notebooks: 00 executed in fast mode,
a small notebook with a figure, math and a latent explorer (executed, its widget state
stored), and the other course notebooks as committed (no outputs; the search must find a
word of 07's prose). Then:

- static: every built HTML, CSS and JavaScript file is scanned for outside addresses (only
  links a reader clicks, XML namespaces and a short list of inert strings inside vendored
  libraries are allowed); API pages exist for every module pkgutil finds;
- in chromium (Playwright, as tests/test_browser.py; skipped without it): every page, slides
  included, loads from a server on 127.0.0.1 with every other request blocked and no local
  file missing; no raw TeX is visible; images load; the search finds a term from 07; the
  next links reach every notebook; a deck advances. Screenshots go to build/screenshots/.

Time: 2 min 15 s to 3 min 10 s measured on the shared 2-core machine (load 3 to 12), most of
it running two notebooks and Sphinx, and about 30 page loads.
"""
import copy
import functools
import http.server
import json
import os
import re
import shutil
import sys
import threading
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import build_course  # noqa: E402
import build_site  # noqa: E402
import colab_cell  # noqa: E402

SHOTS = ROOT / "build" / "screenshots"
EXECUTE = ("00_",)  # run in fast mode for the site (the shortest); the others are shown as committed
SEARCH_TERM = "manifold"  # a word of 07's prose (checked below)

# ----------------------------------------------------------------------------- unit tests


def test_discover_modules_finds_subpackages_and_skips_private_ones(tmp_path, monkeypatch):
    pkg = tmp_path / "toypkg"
    (pkg / "widgets").mkdir(parents=True)
    for rel in ("__init__.py", "alpha.py", "_hidden.py", "widgets/__init__.py", "widgets/base.py"):
        (pkg / rel).write_text('"""A module."""\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    assert build_site.discover_modules("toypkg") == [
        "toypkg", "toypkg.alpha", "toypkg.widgets", "toypkg.widgets.base"]
    with pytest.raises(ValueError, match="package must be a non-empty module name"):
        build_site.discover_modules("")
    found = build_site.discover_modules()
    assert {"vae_course", "vae_course.losses", "vae_course.models"} <= set(found)
    assert not [m for m in found if "._" in m]


def _nb(*cells):
    v4 = nbformat.v4
    out = []
    for kind, source, *rest in cells:
        cell = v4.new_markdown_cell(source) if kind == "md" else v4.new_code_cell(source)
        if rest:
            cell.metadata.update(rest[0])
        out.append(cell)
    return v4.new_notebook(cells=out)


def test_slide_cells_keep_headings_equations_figures_and_tagged_cells():
    png = {"output_type": "display_data", "metadata": {}, "data": {"image/png": "iVBORw0KGgo=", "text/plain": "x"}}
    figure = nbformat.v4.new_code_cell("plt.plot(x)\n" * 30)
    figure.outputs = [nbformat.from_dict(png)]
    nb = _nb(("md", "install", {"tags": ["colab-badge"]}),
             ("code", "pip", {"tags": ["colab-install"]}),
             ("md", "# 42 · Title\n\nLong prose that is left out."),
             ("md", "## Learning objectives\n\n- one\n- two"),
             ("md", "## 1. The bound\n\nProse.\n\n$$a = b$$\n\nMore prose $x$.\n\n$$c = d$$"),
             ("code", "x = 1  # not shown"),
             ("code", "def f():\n    pass", {"tags": ["slide-code"]}),
             ("md", "### Detail\n\nwords", {"tags": ["slide-skip"]}),
             ("md", "Shown whole.", {"tags": ["slide"]}),
             ("code", "answer = 1", {"nbgrader": {"solution": True}}))
    nb.cells.insert(7, figure)
    two = copy.deepcopy(figure)
    two.outputs.append(copy.deepcopy(two.outputs[0]))
    nb.cells += [nbformat.v4.new_markdown_cell("## 2. Pictures"), two,
                 nbformat.v4.new_markdown_cell("## References\n\n$$e = f$$"), copy.deepcopy(figure)]
    deck = build_site.slide_cells(nb)
    assert deck[:7] == [("slide", "# 42 · Title", "markdown"), ("slide", "## Learning objectives", "markdown"),
                        ("-", "\n- one\n- two", "markdown"), ("slide", "## 1. The bound", "markdown"),
                        ("-", '<p class="course-slide-lead">Prose.</p>', "markdown"),
                        ("-", "$$a = b$$", "markdown"), ("-", "$$c = d$$", "markdown")]
    del deck[4]
    assert deck[6] == ("slide", "def f():\n    pass", "code")
    assert deck[7][0] == "slide" and deck[7][1].startswith("### 1. The bound\n\n<img src=\"data:image/png;base64,")
    assert deck[8] == ("slide", "Shown whole.", "markdown")
    # a figure right after a heading joins its slide; the references show their heading only
    assert deck[9] == ("slide", "## 2. Pictures", "markdown")
    assert deck[10][0] == "-" and deck[10][1].startswith('<img src="data:image/png;base64,')
    assert deck[11][0] == "slide" and deck[11][1].startswith('### 2. Pictures\n\n<img src="data:image/png;base64,')
    assert deck[12:] == [("slide", "## References", "markdown")], deck[12:]


def test_lead_sentence_is_short_whole_and_plain():
    assert build_site._lead_sentence("\nThe KL term of $q$ is closed. More follows.\n\nNext.") == "The KL term of $q$ is closed."
    assert build_site._lead_sentence("A list:\n- one") == "A list:"
    assert build_site._lead_sentence("$$x$$ first") == ""
    assert build_site._lead_sentence("Inline $a. b$ cut") == ""  # the cut would split the math
    assert build_site._lead_sentence("word " * 60 + ".") == ""
    assert build_site._lead_sentence("") == ""


def test_launch_links_name_colab_binder_downloads_and_slides():
    info = {"version": "1.0", "repository": "https://github.com/o/r", "github": "o/r"}
    text = build_site.launch_links("07_vae.ipynb", info, student=True, slides=True)
    assert 'href="https://colab.research.google.com/github/o/r/blob/v1.0/notebooks/07_vae.ipynb"' in text
    assert 'href="https://mybinder.org/v2/gh/o/r/v1.0?urlpath=lab/tree/notebooks/07_vae.ipynb"' in text
    for href in ("downloads/instructor/07_vae.ipynb", "downloads/student/07_vae.ipynb", "slides/07_vae.slides.html"):
        assert f'href="{href}"' in text
    assert "student" not in build_site.launch_links("07_vae.ipynb", info, student=False, slides=False)


def test_build_site_needs_executed_notebooks(tmp_path):
    with pytest.raises(FileNotFoundError, match="no executed notebooks"):
        build_site.build_site(tmp_path / "none", tmp_path / "out")


# ----------------------------------------------------------------------------- the built site

_EXTRA_MD = r"""# 99 · A page for the site test

The encoder $q_\phi(z \mid x)$ and the bound

$$\log p_\theta(x) \ge \mathbb{E}_{q_\phi(z\mid x)}\left[\log p_\theta(x \mid z)\right] - \mathrm{KL}\left(q_\phi(z\mid x)\,\|\,p(z)\right)$$

## A figure and an explorer"""
_EXTRA_CODE = [
    "%matplotlib inline\nimport numpy as np, matplotlib.pyplot as plt\n"
    "plt.plot(np.linspace(-3, 3, 50), np.exp(-np.linspace(-3, 3, 50) ** 2 / 2))\nplt.show()",
    "import torch\nfrom vae_course import models, widgets\ntorch.manual_seed(0)\n"
    "explorer = widgets.latent_explorer(models.VAE(hidden=(32,), latent_dim=2))\nexplorer",
]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    work = tmp_path_factory.mktemp("site")
    source, executed = work / "notebooks", work / "executed"
    source.mkdir()
    executed.mkdir()
    for path in build_site.find_notebooks(ROOT / "notebooks"):
        shutil.copy(path, source / path.name)
    v4 = nbformat.v4
    extra = v4.new_notebook(cells=[v4.new_markdown_cell(_EXTRA_MD)] + [v4.new_code_cell(c) for c in _EXTRA_CODE])
    extra.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nbformat.write(extra, source / "99_site_test.ipynb")
    saved = {k: os.environ.get(k) for k in ("VAE_COURSE_FAST", "VAE_COURSE_FIGURES", "OMP_NUM_THREADS")}
    os.environ.update(VAE_COURSE_FAST="1", VAE_COURSE_FIGURES=str(work / "figures"), OMP_NUM_THREADS="1")
    rows = []
    try:
        for path in build_site.find_notebooks(source):
            if path.name.startswith(EXECUTE + ("99_",)):
                nb, seconds, status, report = build_course.run_notebook(path, timeout=600)
                assert status == "ok", f"{path.name} failed in fast mode:\n{report}"
                nbformat.write(nb, executed / path.name)
                rows.append({"notebook": path.name, "seconds": seconds, "status": status})
            else:
                shutil.copy(path, executed / path.name)
    finally:
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    (executed / "run.json").write_text(json.dumps({"mode": "fast", "notebooks": rows}))
    student = work / "student"
    student.mkdir()
    shutil.copy(source / "07_vae.ipynb", student / "07_vae.ipynb")  # stands in for nbgrader's release
    # no network: the JavaScript comes from build/js-cache, which make setup fills (scripts/build_site.py
    # --fetch-js); without it the widgets show their pictures and the slide tests skip
    summary = build_site.build_site(executed, work / "site", student_dir=student, notebooks_dir=source,
                                    quiet=True, fetch=False)
    return summary


def _built_files(out, suffixes):
    return [p for p in out.rglob("*") if p.is_file() and p.suffix in suffixes]


URL = re.compile(r"""https?://[^\s"'<>)\\`]+|(?:src|href)\s*=\s*["']//[^"']+|url\(\s*["']?//[^)"']+""")
#: Strings that are addresses but load nothing: XML/JSON-schema identifiers, and documentation
#: links inside messages of the vendored libraries (by host).
INERT_HOSTS = ("www.w3.org", "json-schema.org", "raw.githubusercontent.com/ajv-validator", "github.com",
               "www.mathjax.org", "mathjax.org", "snowballstem.org", "marked.js.org", "evilmartians.com",
               "www.w3ctech.com", "dev.jquery.com", "hakim.se", "revealjs.com", "fontawesome.com",
               "getbootstrap.com", "pydata-sphinx-theme.readthedocs.io", "developer.mozilla.org",
               "stackoverflow.com", "connect.microsoft.com", "meyerweb.com", "requirejs.org", "tools.ietf.org",
               "webkit.org", "www.apache.org/licenses")
#: Loaders of features the site turns off, in the files that hold them: the widget manager's
#: CDN fallback for third-party widgets (the pages give it a local folder instead) and a font
#: @import its CSS has commented out, and MathJax's speech-rule engine (the accessibility
#: explorer is off).
_SRE = ("https://cdn.jsdelivr.net/npm/speech-rule-engine@", "https://cdn.jsdelivr.net/npm/sre-mathmaps-ie@",
        "https://cdn.jsdelivr.net/npm/wicked-good-xpath@1.3.0/dist/wgxpath.install.js")
INERT_IN_FILE = {
    "_static/widgets/embed-amd.js": ("https://cdn.jsdelivr.net/npm/", "https://fonts.googleapis.com/css?family=Roboto+Mono"),
    "_static/mathjax/ui/menu.js": _SRE,
    "_static/mathjax/tex-chtml.js": ("https://cdn.jsdelivr.net/npm/speech-rule-engine@",
                                     "https://cdn.jsdelivr.net/npm/sre-mathmaps-ie@",
                                     "https://cdn.jsdelivr.net/npm/wicked-good-xpath@1.3.0/dist/wgxpath.install.js"),
}
ANCHOR = re.compile(r"""<a\s[^>]*?href=["']([^"']+)["']""", re.I)


def _outside_references(path, rel=""):
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix == ".css":
        text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)  # comments: licences, credits
    if path.suffix == ".html":
        # what a page can load: its tags' attributes (<a href> is a link a reader follows, so it
        # goes), its scripts and its style sheets (without their comments); not the prose
        blocks = re.findall(r"<(script|style)\b[^>]*>(.*?)</\1>", text, flags=re.S | re.I)
        rest = re.sub(r"<(script|style)\b[^>]*>.*?</\1>", "", text, flags=re.S | re.I)
        tags = re.findall(r"<[A-Za-z][^>]*>", ANCHOR.sub("<a>", rest))
        text = "\n".join(tags + [re.sub(r"/\*.*?\*/", "", body, flags=re.S) if kind.lower() == "style" else body
                                  for kind, body in blocks])
    allowed = INERT_IN_FILE.get(rel, ())
    found = set()
    for url in URL.findall(text):
        host = re.sub(r"^(?:src|href)\s*=\s*[\"']|^url\(\s*[\"']?", "", url)
        host = re.sub(r"^(?:https?:)?//", "", host)
        if url in allowed or host.startswith(INERT_HOSTS):
            continue
        found.add(url)
    return sorted(found)


def test_outside_address_scan_catches_loaders_and_spares_links(tmp_path):
    page = tmp_path / "page.html"
    page.write_text("<html><head><script type=\"module\">import mermaid from "
                    "'https://cdnjs.cloudflare.com/ajax/libs/mermaid/11.10.0/mermaid.esm.min.mjs';</script>"
                    "<style>/* https://example.org/credit */ body { background: url(//cdn.example.net/a.png) }</style>"
                    "</head><body><a class=\"x\" href=\"https://colab.research.google.com/x\">Colab</a>"
                    "<p>see https://example.org/prose</p><img src=\"https://cdn.example.net/b.png\"></body></html>")
    assert _outside_references(page) == ["https://cdn.example.net/b.png",
                                         "https://cdnjs.cloudflare.com/ajax/libs/mermaid/11.10.0/mermaid.esm.min.mjs",
                                         "url(//cdn.example.net/a.png"]
    style = tmp_path / "a.css"
    style.write_text("/* https://example.org/licence */\n@import url('https://fonts.example.com/css');")
    assert _outside_references(style) == ["https://fonts.example.com/css"]


def test_no_built_file_refers_to_an_outside_address(site):
    out = site["out"]
    found = {}
    for path in _built_files(out, {".html", ".css", ".js", ".mjs"}):
        refs = _outside_references(path, path.relative_to(out).as_posix())
        if refs:
            found[str(path.relative_to(out))] = refs[:5]
    assert not found, f"built files refer to outside addresses: {json.dumps(found, indent=1)[:3000]}"
    pages = _built_files(out, {".html"})
    source = "\n".join(p.read_text(encoding="utf-8") for p in pages)
    assert "mermaid" not in source and "cdnjs" not in source and "unpkg.com" not in source


def test_site_holds_every_notebook_api_page_download_and_deck(site):
    out = site["out"]
    names = [p.name for p in build_site.find_notebooks(ROOT / "notebooks")] + ["99_site_test.ipynb"]
    for name in names:
        stem = Path(name).stem
        assert (out / f"{stem}.html").is_file(), f"no page for {name}"
        assert (out / "downloads" / "instructor" / name).is_file()
        if site["slides"]:
            assert (out / "slides" / f"{stem}.slides.html").is_file()
    assert (out / "downloads" / "student" / "07_vae.ipynb").is_file()
    assert 'href="downloads/student/07_vae.ipynb"' in (out / "07_vae.html").read_text(encoding="utf-8")
    for module in build_site.discover_modules():
        page = out / "api" / f"{module}.html"
        assert page.is_file(), f"no API page for {module}"
    losses = (out / "api" / "vae_course.losses.html").read_text(encoding="utf-8")
    assert 'id="vae_course.losses.negative_elbo"' in losses, "negative_elbo is not documented"
    # the header's download button: the notebook as it ran
    assert 'href="_sources/00_start_here.ipynb"' in (out / "00_start_here.html").read_text(encoding="utf-8")
    ran = nbformat.read(out / "_sources" / "00_start_here.ipynb", as_version=4)
    assert any(cell.get("outputs") for cell in ran.cells if cell.cell_type == "code"), "no outputs in the download"
    assert (out / "_static" / "mathjax" / "tex-chtml.js").is_file()
    assert (out / "searchindex.js").is_file()
    page07 = (out / "07_vae.html").read_text(encoding="utf-8")
    assert SEARCH_TERM in page07.lower(), f"{SEARCH_TERM!r} is no longer in 07: pick another SEARCH_TERM"
    assert "colab-install" not in page07 and "find_spec(&quot;vae_course&quot;)" not in page07


# ----------------------------------------------------------------------------- in the browser


@pytest.fixture(scope="module")
def server(site):
    handler = functools.partial(_QuietHandler, directory=str(site["out"]))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _page(browser, viewport=(1280, 900), color_scheme="light"):
    """A page whose requests leaving 127.0.0.1 are blocked and recorded, and whose failures are kept."""
    page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]}, color_scheme=color_scheme)
    record = {"blocked": [], "missing": [], "errors": []}

    def route(r):
        if r.request.url.startswith(("http://127.0.0.1", "data:", "blob:", "about:")):
            r.continue_()
        else:
            record["blocked"].append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.on("response", lambda resp: resp.status >= 400 and record["missing"].append(f"{resp.status} {resp.url}"))
    page.on("pageerror", lambda e: record["errors"].append(str(e)))
    return page, record


def _wait_for_math(page):
    page.wait_for_function("() => !document.querySelector('.math, .MathJax_Preview, script[type^=\"math/tex\"]') || "
                           "(window.MathJax && MathJax.startup && MathJax.startup.promise && "
                           "document.querySelectorAll('mjx-container').length > 0)", timeout=30000)
    page.evaluate("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
    page.wait_for_timeout(100)


_RAW_TEX = """() => {
    const skip = new Set(['PRE', 'CODE', 'SCRIPT', 'STYLE', 'MJX-ASSISTIVE-MML', 'TEXTAREA']);
    const bad = [];
    const walk = (node) => {
        if (node.nodeType === Node.TEXT_NODE) {
            const t = node.textContent;
            if (/\\$[^$\\s][^$]*\\$|\\\\\\(|\\\\\\[|\\\\begin\\{|\\\\frac|\\\\mathbb/.test(t)) bad.push(t.trim().slice(0, 80));
            return;
        }
        if (node.nodeType !== Node.ELEMENT_NODE || skip.has(node.tagName)) return;
        if (node.closest && node.closest('.highlight, .cell_input, .output.text_plain, .output.stream')) return;
        for (const c of node.childNodes) walk(c);
    };
    walk(document.body);
    return bad;
}"""


def _check(page, record, where):
    _wait_for_math(page)
    raw = page.evaluate(_RAW_TEX)
    assert not raw, f"{where}: raw TeX visible: {raw[:5]}"
    page.wait_for_function("() => Array.from(document.images).every(i => i.complete)", timeout=30000)
    broken = page.evaluate("Array.from(document.images).filter(i => !i.naturalWidth && i.offsetParent)"
                           ".map(i => i.src.slice(0, 80))")
    assert not broken, f"{where}: images did not load: {broken}"
    assert not record["blocked"], f"{where}: asked the network for {record['blocked'][:5]}"
    assert not record["missing"], f"{where}: missing local files: {record['missing'][:5]}"


def _shot(page, name, **kwargs):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / name), **kwargs)


def test_every_page_loads_offline_with_math_typeset_and_images(browser, server, site):
    out = site["out"]
    pages = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.html")
                   if "_static" not in p.parts and "reveal.js" not in p.parts and p.parent.name != "_sources")
    assert "index.html" in pages and "07_vae.html" in pages
    # the API pages share one template: the index and one module stand for them (time)
    pages = [p for p in pages if not p.startswith("api/") or p in ("api/index.html", "api/vae_course.losses.html")]
    page, record = _page(browser)
    for rel in pages:
        page.goto(f"{server}/{rel}")
        page.wait_for_load_state("load")
        if rel.startswith("slides/"):
            page.wait_for_function("() => window.Reveal && Reveal.isReady()", timeout=30000)
        _check(page, record, rel)
        if rel == "index.html":
            _shot(page, "site_home.png")
        elif rel == "07_vae.html":
            _shot(page, "site_07_vae.png")
    assert not [e for e in record["errors"] if "MathJax" in e or "Reveal" in e], record["errors"]
    page.close()


def test_widget_page_shows_the_stored_state_or_the_picture(browser, server, site):
    page, record = _page(browser)
    page.goto(f"{server}/99_site_test.html")
    if site["widgets"]:
        page.wait_for_selector(".vae-explorer-image", timeout=30000)
        assert page.locator(".widget-slider").count() == 2
        assert page.evaluate("document.querySelector('.vae-explorer-image').naturalWidth") > 0
    else:
        assert page.evaluate("document.images.length") >= 2
    _check(page, record, "99_site_test.html")
    _shot(page, "site_widgets.png", full_page=True)
    page.close()


def test_search_finds_a_term_from_07(browser, server):
    page, record = _page(browser)
    page.goto(f"{server}/search.html?q={SEARCH_TERM}")
    page.wait_for_selector("#search-results li a", timeout=30000)
    hrefs = page.eval_on_selector_all("#search-results li a", "els => els.map(e => e.getAttribute('href'))")
    assert any(h.startswith("07_vae.html") for h in hrefs), f"07 is not among the results {hrefs}"
    assert not record["blocked"]
    page.close()


def test_next_links_reach_every_notebook_and_the_sidebar_lists_them(browser, server, site):
    page, record = _page(browser)
    page.goto(f"{server}/index.html")
    sidebar = page.eval_on_selector_all("nav.bd-links a.reference.internal",
                                        "els => els.map(e => e.getAttribute('href'))")
    names = [Path(n).stem for n in site["notebooks"]]
    for stem in names:
        assert any(h.split("#")[0].endswith(f"{stem}.html") for h in sidebar), f"{stem} not in the sidebar"
    visited = []
    for _ in range(len(names) + 5):  # follow each page's "next" link
        link = page.locator("a.right-next")
        if link.count() == 0:
            break
        href = link.first.get_attribute("href")
        page.goto(page.url.rsplit("/", 1)[0] + "/" + href, wait_until="domcontentloaded")
        visited.append(page.url.rsplit("/", 1)[-1].split("#")[0])
    assert [f"{s}.html" for s in names] == [v for v in visited if re.match(r"\d\d_", v)], visited
    assert page.locator("a.left-prev").count() == 1
    assert not record["blocked"]
    page.close()


def test_slides_advance(browser, server, site):
    if not site["slides"]:
        pytest.skip("reveal.js could not be fetched (npm missing): no slides were built")
    page, record = _page(browser, viewport=(1280, 800))
    page.goto(f"{server}/slides/07_vae.slides.html")
    page.wait_for_function("() => window.Reveal && Reveal.isReady()", timeout=30000)
    _wait_for_math(page)
    total = page.evaluate("Reveal.getTotalSlides()")
    assert total >= 10, f"only {total} slides in 07's deck"
    first = page.evaluate("JSON.stringify(Reveal.getIndices())")
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    page.wait_for_timeout(800)
    assert page.evaluate("JSON.stringify(Reveal.getIndices())") != first, "the deck did not advance"
    page.evaluate("Reveal.slide(3, 0)")
    page.wait_for_timeout(800)
    _shot(page, "site_slides_07.png")
    assert not record["blocked"] and not record["missing"], record
    page.close()
