"""Checks on how the course is packaged: dependencies, notebooks, figures, CI and pins.

They read files only (no kernel, no network) and pass on an empty notebooks/ or figures/.
"""

import json
import re
from pathlib import Path

import pytest
import yaml

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
# Sections every notebook has, in this order, after its title (DESIGN.md, "Notebook template").
TEMPLATE_SECTIONS = ["Learning objectives", "Prerequisites", "Summary", "References"]
CONDA_TO_PYPI = {"pytorch": "torch"}


def canonical(name):
    """A distribution name as PyPI compares them: lower case, runs of -_. become -."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement):
    """'scikit-learn>=1.3' -> 'scikit-learn'; also works for conda specs such as 'pytorch>=2.1'."""
    return canonical(re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement).group(1))


def pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def all_pyproject_names():
    project = pyproject()
    names = {requirement_name(r) for r in project["dependencies"]}
    for extra in project.get("optional-dependencies", {}).values():
        names |= {requirement_name(r) for r in extra}
    return names


def headings(nb):
    """(level, text) of every Markdown heading in the notebook, in order."""
    found = []
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            for line in "".join(cell["source"]).splitlines():
                match = re.match(r"^(#{1,6})\s+(.*?)\s*#*\s*$", line)
                if match:
                    found.append((len(match.group(1)), match.group(2)))
    return found


def load(path):
    return json.loads(path.read_text(encoding="utf-8"))


def test_environment_yml_names_the_dependencies_of_pyproject():
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    conda = {
        CONDA_TO_PYPI.get(requirement_name(dep), requirement_name(dep))
        for dep in env["dependencies"]
        if isinstance(dep, str)
    } - {"python", "pip"}
    project = pyproject()
    needed = {requirement_name(r) for r in project["dependencies"]}
    needed |= {requirement_name(r) for r in project["optional-dependencies"]["notebooks"]}

    missing_in_env = sorted(needed - conda)
    assert not missing_in_env, (
        f"environment.yml lacks {missing_in_env}, which pyproject.toml needs "
        "(runtime dependencies or the 'notebooks' extra)"
    )
    unknown_to_pyproject = sorted(conda - all_pyproject_names())
    assert not unknown_to_pyproject, (
        f"environment.yml installs {unknown_to_pyproject}, which pyproject.toml does not name "
        "(add them to pyproject.toml, the single source, or remove them from environment.yml)"
    )
    pip_lines = [line for dep in env["dependencies"] if isinstance(dep, dict) for line in dep.get("pip", [])]
    assert any(re.match(r"-e\s+\.", line) for line in pip_lines), (
        "environment.yml should install the course package from pyproject.toml with a pip entry '-e .[...]'"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_without_outputs(path):
    nb = load(path)
    dirty = [
        index
        for index, cell in enumerate(nb["cells"])
        if cell["cell_type"] == "code" and (cell.get("outputs") or cell.get("execution_count") is not None)
    ]
    assert not dirty, (
        f"{path.name}: code cells {dirty} have outputs or execution counts; clear them before committing "
        "(JupyterLab: Edit > Clear Outputs of All Cells, or "
        "jupyter nbconvert --clear-output --inplace notebooks/*.ipynb)"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_follows_the_template(path):
    found = headings(load(path))
    assert found and found[0][0] == 1, f"{path.name}: the first Markdown heading should be the title, '# ...'"
    positions = []
    for section in TEMPLATE_SECTIONS:
        at = [i for i, (_, text) in enumerate(found) if section.lower() in text.lower()]
        assert at, f"{path.name}: no heading '{section}' (the template has {TEMPLATE_SECTIONS})"
        positions.append(at[0])
    assert positions == sorted(positions), (
        f"{path.name}: the sections should come in the order {TEMPLATE_SECTIONS}"
    )


def test_figures_readme_lists_every_figure():
    folder = ROOT / "figures"
    readme = folder / "README.md"
    rows = [line for line in readme.read_text(encoding="utf-8").splitlines() if line.strip().startswith("|")]
    assert rows and re.sub(r"\s+", " ", rows[0]).strip() == "| file | notebook | what it shows |", (
        "figures/README.md should have the table header '| file | notebook | what it shows |'"
    )
    listed = set()
    for row in rows[2:]:  # after the header and the |---| line
        cell = row.strip().strip("|").split("|")[0].strip()
        links = re.findall(r"\]\(([^)]+)\)", cell)  # [name.png](name.png), [pdf](name.pdf)
        listed.update(links or [cell.strip("`").strip()])
    present = {
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and p.name != "README.md" and not p.name.startswith(".")
    }
    assert not sorted(present - listed), f"figures/README.md does not list {sorted(present - listed)}"
    assert not sorted(listed - present), f"figures/README.md lists missing files {sorted(listed - present)}"


def test_ci_and_readme_use_make_test():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    commands = [line.strip() for line in ci.splitlines() if not line.strip().startswith("#")]
    assert any(re.match(r"make test(\s|$)", line) for line in commands), ".ci/run should call 'make test'"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    code = "\n".join(re.findall(r"```[a-z]*\n(.*?)```", readme, flags=re.S))
    assert re.search(r"^\s*(\$\s*)?make test\s*(#.*)?$", code, flags=re.M), (
        "README.md should give 'make test' as the test command in a code block"
    )


def test_constraints_pin_torch_and_every_dependency():
    pins = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[canonical(name)] = version.strip()
    assert pins.get("torch") == "2.13.0", f"constraints.txt should pin torch==2.13.0, found {pins.get('torch')!r}"
    unpinned = sorted(all_pyproject_names() - {name for name, version in pins.items() if version})
    assert not unpinned, f"constraints.txt has no '==' pin for {unpinned}, named in pyproject.toml"
