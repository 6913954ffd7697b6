"""The Colab cells at the top of every notebook (scripts/colab_cell.py).

The install cell is run for real in a fresh virtual environment without vae_course,
installing a wheel built from a local copy of the package (no network: pip may not use an index), then
run again to show it is a no-op once the package is there. About 20 s, most of it creating
the venv and pip.
"""
import contextlib
import io
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import colab_cell  # noqa: E402

INFO = colab_cell.project_info()
NOTEBOOKS = colab_cell.find_notebooks(ROOT / "notebooks")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_notebook_starts_with_the_colab_cells(path):
    problems = colab_cell.check_notebook(nbformat.read(path, as_version=4), path.name, INFO)
    assert not problems, f"{path.name}: {problems}; run python scripts/colab_cell.py"


def test_addresses_follow_pyproject():
    info = {"version": "1.2.3", "repository": "https://github.com/someone/vae-course", "github": "someone/vae-course"}
    assert colab_cell.colab_url("07_vae.ipynb", info) == (
        "https://colab.research.google.com/github/someone/vae-course/blob/v1.2.3/notebooks/07_vae.ipynb")
    assert colab_cell.pip_requirement(info) == "vae-course @ git+https://github.com/someone/vae-course@v1.2.3"
    with pytest.raises(ValueError, match="notebook_name must be a file name NN_topic.ipynb"):
        colab_cell.colab_url("vae.ipynb", info)
    import vae_course
    assert INFO["version"] == vae_course.__version__, "pyproject.toml and vae_course.__version__ disagree"


def test_project_info_rejects_a_repository_that_is_not_on_github(tmp_path):
    bad = tmp_path / "pyproject.toml"
    bad.write_text('[project]\nname = "x"\nversion = "0.1"\n[project.urls]\nRepository = "https://example.org/x"\n')
    with pytest.raises(ValueError, match=r"Repository must be https://github.com/OWNER/NAME"):
        colab_cell.project_info(bad)


def test_update_is_idempotent_and_moves_the_cells_to_the_top():
    v4 = nbformat.v4
    nb = v4.new_notebook(cells=[v4.new_markdown_cell("# 42 · A title"), v4.new_code_cell("x = 1")])
    assert colab_cell.update_notebook(nb, "42_title.ipynb", INFO)
    assert [c.metadata["tags"][0] for c in nb.cells[:2]] == ["colab-badge", "colab-install"]
    assert colab_cell.check_notebook(nb, "42_title.ipynb", INFO) == []
    assert not colab_cell.update_notebook(nb, "42_title.ipynb", INFO), "a second pass changed the notebook"
    # a stale install cell further down is moved back up and refreshed, keeping its other tags
    cell = nb.cells.pop(1)
    cell.source, cell.metadata["tags"] = "old", ["colab-install", "mine"]
    nb.cells.append(cell)
    assert colab_cell.check_notebook(nb, "42_title.ipynb", INFO) == ["cell 1 is not the colab-install cell"]
    assert colab_cell.update_notebook(nb, "42_title.ipynb", INFO)
    assert len(nb.cells) == 4 and nb.cells[1].metadata["tags"] == ["colab-install", "remove-cell", "mine"]
    assert nb.cells[1].source == colab_cell.install_source(INFO)


def test_install_cell_is_a_no_op_where_vae_course_is_importable(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"the install cell ran a command: {args}")

    monkeypatch.setattr(subprocess, "run", refuse)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(colab_cell.install_source(INFO), "<colab cell>", "exec"), {})
    assert out.getvalue() == ""


def test_install_cell_installs_the_package_in_a_fresh_venv(tmp_path):
    # a copy of what pip needs to build the package (keeps build files out of the checkout)
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "vae_course", source / "vae_course", ignore=shutil.ignore_patterns("__pycache__"))
    # a wheel built here (this venv's setuptools); the fresh venv's pip installs it offline
    wheels = tmp_path / "wheels"
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                            "--no-index", "-w", wheels, source], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = wheels.glob("vae_course-*.whl")
    import zipfile
    packed = {Path(n).parent.as_posix() for n in zipfile.ZipFile(wheel).namelist() if n.endswith("/__init__.py")}
    on_disk = {p.parent.relative_to(source).as_posix() for p in (source / "vae_course").rglob("__init__.py")}
    assert on_disk <= packed, f"the wheel lacks the subpackages {sorted(on_disk - packed)} (pyproject.toml packages)"
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    cell = tmp_path / "cell.py"
    cell.write_text(colab_cell.install_source(INFO) + "\nprint('found:', importlib.util.find_spec('vae_course') is not None)\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON", "VIRTUAL_ENV"))}
    # offline: no index, no dependencies (torch & co. are preinstalled on Colab)
    env.update(VAE_COURSE_PIP_SOURCE=str(wheel), PIP_NO_INDEX="1", PIP_NO_DEPS="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    first = subprocess.run([python, cell], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"Installing {wheel}" in first.stdout and "found: True" in first.stdout, first.stdout
    shown = subprocess.run([python, "-m", "pip", "show", "vae-course"], capture_output=True, text=True, env=env)
    assert f"Version: {INFO['version']}" in shown.stdout, shown.stdout + shown.stderr
    # the second run finds the package and does nothing
    second = subprocess.run([python, cell], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert second.returncode == 0 and second.stdout == "found: True\n", second.stdout + second.stderr
