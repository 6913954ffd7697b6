"""scripts/build_course.py: what every notebook run gets (threads, data set, figures folder,
run mode), where its results go, and the table of times. Two tiny notebooks run for real
(no site): about 10 s.
"""
import argparse
import json
import os
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import build_course  # noqa: E402

KERNEL_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "VAE_COURSE_THREADS", "VAE_COURSE_FIGURES",
                    "VAE_COURSE_FAST", "VAE_COURSE_DATASET", "MPLBACKEND")


def test_thread_count_accepts_whole_numbers_from_one():
    assert build_course.thread_count("3") == 3
    assert build_course.thread_count(1) == 1
    for bad in ("0", "-2", "two", None, "1.5"):
        with pytest.raises(argparse.ArgumentTypeError, match="threads must be a whole number >= 1"):
            build_course.thread_count(bad)


def test_kernel_environment():
    assert build_course.kernel_environment(True, 1, Path("/tmp/f"), "mnist") == {
        "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "VAE_COURSE_THREADS": "1",
        "VAE_COURSE_FIGURES": "/tmp/f", "VAE_COURSE_FAST": "1", "MPLBACKEND": "Agg", "VAE_COURSE_DATASET": "mnist"}
    env = build_course.kernel_environment(False, 4, Path("build/figures"))
    assert env["VAE_COURSE_FAST"] == "0" and env["OMP_NUM_THREADS"] == "4" and "VAE_COURSE_DATASET" not in env


def test_run_passes_the_settings_to_each_kernel_and_writes_under_the_given_folders(tmp_path, monkeypatch, capsys):
    for name in KERNEL_VARIABLES:  # restored after the test: main() sets them for the kernels
        monkeypatch.setenv(name, "unset")
    notebooks, executed, figures = tmp_path / "nb", tmp_path / "executed", tmp_path / "figs"
    notebooks.mkdir()
    v4 = nbformat.v4
    show = ("import os\nprint(' '.join(os.environ.get(k, '-') for k in "
            f"{list(KERNEL_VARIABLES)!r}))")
    for name, code in (("01_env.ipynb", show), ("02_fails.ipynb", "raise ValueError('on purpose')")):
        nb = v4.new_notebook(cells=[v4.new_markdown_cell(f"# {name}"), v4.new_code_cell(code)])
        nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
        nbformat.write(nb, notebooks / name)
    (notebooks / "notes.ipynb").write_text("not a course notebook")
    status = build_course.main(["--notebooks", str(notebooks), "--executed", str(executed), "--figures", str(figures),
                                "--threads", "2", "--dataset", "mnist", "--fast", "--no-site", "--timeout", "120"])
    out = capsys.readouterr().out
    assert status == 1, "a failed notebook must give a non-zero exit status"
    ran = nbformat.read(executed / "01_env.ipynb", as_version=4)
    printed = ran.cells[1].outputs[0]["text"].split()
    assert printed == ["2", "2", "2", str(figures.resolve()), "1", "mnist", "Agg"], printed
    run = json.loads((executed / "run.json").read_text())
    assert run["mode"] == "fast" and run["dataset"] == "mnist" and run["threads"] == 2
    assert [(r["notebook"], r["status"]) for r in run["notebooks"]] == [("01_env.ipynb", "ok"),
                                                                      ("02_fails.ipynb", "failed")]
    assert sorted(p.name for p in executed.iterdir()) == ["01_env.ipynb", "02_fails.ipynb", "run.json"]
    # the table of notebooks and times, and the failure named with its cell and error
    assert "notebook" in out and "seconds" in out and "status" in out
    assert any(line.startswith("01_env.ipynb") and line.rstrip().endswith("ok") for line in out.splitlines())
    assert "ValueError: on purpose" in out and "1 notebook(s) failed: 02_fails.ipynb" in out
    assert os.environ["VAE_COURSE_DATASET"] == "mnist"  # (monkeypatch puts 'unset' back afterwards)


def test_no_notebooks_is_an_error(tmp_path, capsys):
    assert build_course.main(["--notebooks", str(tmp_path), "--no-site"]) == 1
    assert "No notebooks NN_*.ipynb" in capsys.readouterr().out
