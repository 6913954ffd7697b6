"""Sphinx configuration of the course website (built by scripts/build_site.py).

scripts/build_site.py copies this folder, the executed notebooks and the generated API pages
into build/site-src/ and writes ``site_settings.json`` there; this file reads it. Everything
the pages load is local: the theme (sphinx-book-theme, with its icon font), MathJax 3 (from
the PyPI package sphinx-mathjax-offline), the search index, and the Jupyter widget manager
(npm, fetched by scripts/build_site.py). Notebooks are never executed here.
"""
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
SETTINGS = json.loads((HERE / "site_settings.json").read_text(encoding="utf-8"))

project = "VAE course"
author = "the vae-course authors"
copyright = "the vae-course authors, MIT licence"
release = version = SETTINGS["version"]

extensions = [
    "myst_nb",  # notebooks and MyST Markdown pages
    "sphinx.ext.autodoc",  # the API reference
    "sphinx.ext.napoleon",  # numpy-style "Parameters" sections in docstrings
    "sphinx.ext.mathjax",
]
exclude_patterns = ["_build", "extra", "slides_template", "package.json", "site_settings.json", "**.ipynb_checkpoints"]
templates_path = []
language = "en"

# ----------------------------------------------------------------------------- notebooks
nb_execution_mode = "off"  # build_course.py ran them; the site shows those outputs
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "html_image"]
myst_heading_anchors = 3
suppress_warnings = ["mystnb.unknown_mime_type", "myst.header", "misc.highlighting_failure"]

if SETTINGS["widgets"] == "live":
    # the stored widget state is drawn by a local copy of the widget manager (no CDN)
    nb_ipywidgets_js = {
        "widgets/require.js": {},
        "widgets/embed-amd.js": {"data-jupyter-widgets-cdn": "_static/widgets/"},
    }
else:
    # no widget manager: each explorer's static picture (its PNG) is shown instead
    nb_ipywidgets_js = {}
    nb_mime_priority_overrides = [("html", "application/vnd.jupyter.widget-view+json", None),
                                  ("html", "application/vnd.jupyter.widget-state+json", None)]

# ----------------------------------------------------------------------------- math
mathjax_path = "mathjax/tex-chtml.js"  # copied into _static/ by build_site.py
mathjax3_config = {
    "tex": {"inlineMath": [["\\(", "\\)"]], "displayMath": [["\\[", "\\]"]], "tags": "ams"},
    # the screen-reader tools would load the speech-rule engine: keep everything local
    "options": {"enableMenu": True, "menuOptions": {"settings": {"assistiveMml": True, "explorer": False}}},
}

# ----------------------------------------------------------------------------- API reference
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
napoleon_google_docstring = False

# ----------------------------------------------------------------------------- theme
html_theme = "sphinx_book_theme"
html_title = "VAE course"
html_static_path = ["_static"]
html_css_files = ["course.css"]
html_extra_path = ["extra"]  # slides/ and downloads/, copied as they are
html_last_updated_fmt = None
html_show_sourcelink = False
html_copy_source = True  # the header's download button offers the notebook as it ran
html_theme_options = {
    "repository_url": SETTINGS["repository"],
    "repository_branch": SETTINGS["git_ref"],
    "path_to_docs": "notebooks",  # the launch links open notebooks/<page>.ipynb of the release
    "use_repository_button": False,
    "use_download_button": True,
    "use_fullscreen_button": True,
    "launch_buttons": {
        "colab_url": "https://colab.research.google.com",
        "binderhub_url": "https://mybinder.org",
        "notebook_interface": "jupyterlab",
    },
    "show_navbar_depth": 1,
    "show_toc_level": 2,
    "home_page_in_toc": True,
    "navigation_with_keys": True,
}
html_context = {"default_mode": "auto"}  # light or dark, following the reader's system; a switch on every page
