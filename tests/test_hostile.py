"""Hostile submissions, graded for real by scripts/grade.py in the bubblewrap sandbox.

The course is grading/demo_course.py's one notebook (three exercises: kl_loss 2 points, scale 2,
count_positive 1). Every attacker answers count_positive honestly and kl_loss and scale wrongly,
and then tries one trick to get the points anyway: each must score exactly what its honest part
earns. After the run the suite checks that nothing changed on the grading machine: the package and
the repository, the other students' files, the grades of others, /tmp and home, processes.

One grading run of ~25 submissions of a small notebook: about 1-2 minutes on 2 cores.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grading import demo_course as demo  # noqa: E402
from grading import sandbox  # noqa: E402

pytestmark = pytest.mark.skipif(sandbox.bwrap_problem() is not None,
                                reason=f"no sandbox here: {sandbox.bwrap_problem()}")

TOKEN = f"HOSTILE{uuid.uuid4().hex[:10]}"
WRONG = {"ex-kl": "def kl_loss(mu, logvar):\n    return (0.5 * mu**2).sum(1).mean()\n",   # no variance terms
         "ex-scale": "def scale(x):\n    return 2.0 * x\n"}
HONEST_PART = (0.0, 0.0, 1.0)      # kl_loss, scale, count_positive


def tree_hash(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(folder)).encode() + path.read_bytes())
    return digest.hexdigest()


def files_holding(folder: Path, text: str) -> list:
    """Files under ``folder`` that contain ``text`` (what every write attack appends)."""
    found = []
    for path in Path(folder).rglob("*"):
        try:
            if path.is_file() and path.stat().st_size < 5_000_000 and text.encode() in path.read_bytes():
                found.append(path)
        except OSError:
            pass
    return found


class Listener:
    """A TCP server on 127.0.0.1 that counts the connections it gets (none must come from the sandbox)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(50)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.count = 0
        self.stop = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.count += 1
            conn.close()

    def close(self):
        self.stop = True
        self.thread.join()
        self.sock.close()


def attacks(paths: dict, port: int) -> dict:
    """student -> (cells put before the answers, answers, expected points per exercise)."""
    noop = "lambda *args, **kwargs: None"
    repo_targets = [ROOT / "vae_course" / "exercises.py", ROOT / "grading" / "checks.py", ROOT / "scripts" / "grade.py",
                    paths["course"] / f"{demo.NAME}.ipynb", Path(sys.prefix) / "bin" / TOKEN,
                    paths["subs"] / "honest" / f"{demo.NAME}.ipynb", paths["output"] / "grades.csv",
                    paths["output"] / "totals.csv", ROOT / "notebooks" / TOKEN,
                    Path("/grading/package/vae_course/exercises.py"), Path("/tmp") / TOKEN,
                    Path.home() / TOKEN]
    secret_places = [paths["course"], ROOT / "notebooks", paths["subs"], paths["workdir"], paths["output"],
                     ROOT / "build"]
    a = {
        "honest": ([], {"ex-kl": demo.model_answer("ex-kl"), "ex-scale": demo.model_answer("ex-scale")}, (2, 2, 1)),
        "noop_checks": ([f"import vae_course.exercises as ex\nfor n in ('check_close', 'check_shape', 'check_true', "
                         f"'check_type'):\n    setattr(ex, n, {noop})"], WRONG, HONEST_PART),
        "fake_module": [
            [f"import sys, types\nm = types.ModuleType('vae_course.exercises')\nfor n in ('check_close', 'check_shape', "
             f"'check_true', 'check_type'):\n    setattr(m, n, {noop})\nsys.modules['vae_course.exercises'] = m\n"
             "import vae_course\nvae_course.exercises = m"], WRONG, HONEST_PART],
        "import_hook": (["import builtins, types\n_real = builtins.__import__\nfake = types.ModuleType('fake')\n"
                         f"for n in ('check_close', 'check_shape', 'check_true', 'check_type'):\n    setattr(fake, n, {noop})\n"
                         "def hook(name, *args, **kwargs):\n    if name == 'vae_course.exercises':\n        return fake\n"
                         "    return _real(name, *args, **kwargs)\nbuiltins.__import__ = hook"], WRONG, HONEST_PART),
        "input_transformer": (["ip = get_ipython()\ndef kill(lines):\n"
                               "    return ['pass\\n'] if any('check_' in l or 'assert' in l for l in lines) else lines\n"
                               "ip.input_transformers_cleanup.append(kill)\nip.input_transformers_post.append(kill)"],
                              WRONG, HONEST_PART),
        # the test's own expected value comes from these: a loss without the variance terms would match
        "patch_distributions": (["import torch, torch.distributions as D\n"
                                 "fake_kl = lambda p, q: 0.5 * p.loc**2\n"
                                 "D.kl_divergence = fake_kl\nD.kl.kl_divergence = fake_kl\nkl_divergence = fake_kl\n"
                                 "D.Normal.log_prob = lambda self, value: torch.zeros_like(value)"], WRONG, HONEST_PART),
        "frame_peek": ([], {"ex-kl": "import sys\ndef kl_loss(mu, logvar):\n    return sys._getframe(1).f_globals['expected']\n",
                            "ex-scale": "import sys\ndef scale(x):\n    g = sys._getframe(1).f_globals\n"
                                        "    return g.get('expected', 2.0 * x) if 'x_secret' in g else 3.0 * x\n"},
                       HONEST_PART),
        # looks for the instructor's notebook, the sources, other submissions, the outputs; runs the answers it finds
        "read_answers": ([f"import os, json, glob\nfound = []\nfor place in {[str(p) for p in secret_places]!r}:\n"
                          "    for path in glob.glob(place + '/**/*.ipynb', recursive=True):\n"
                          "        try:\n            found.append(open(path).read())\n        except OSError:\n"
                          "            pass\nprint('FOUND', len(found))\n"
                          "for text in found:\n    for cell in json.loads(text)['cells']:\n"
                          "        if 'BEGIN SOLUTION' in ''.join(cell['source']):\n"
                          "            exec(''.join(cell['source']))"], WRONG, HONEST_PART),
        "write_everywhere": ([f"import os\nfor target in {[str(p) for p in repo_targets]!r}:\n"
                              "    try:\n        os.makedirs(os.path.dirname(target), exist_ok=True)\n"
                              f"        with open(target, 'a') as f:\n            f.write('\\n# {TOKEN}\\nraise SystemExit\\n')\n"
                              "        print('WROTE', target)\n    except OSError as err:\n        print('refused', target, err)"],
                             WRONG, HONEST_PART),
        # a process that outlives the notebook and then rewrites the grades
        "detached_process": ([f"import subprocess, sys\ncode = ('import time, pathlib; time.sleep(6); '\n"
                              f"    'pathlib.Path({str(paths['output'] / 'grades.csv')!r}).write_text(\"hacked\"); '\n"
                              f"    'pathlib.Path(\"/tmp/{TOKEN}-late\").write_text(\"x\")')\n"
                              f"subprocess.Popen([sys.executable, '-c', code, '{TOKEN}'], start_new_session=True,\n"
                              "                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
                              "import os\nif os.fork() == 0:\n    os.setsid()\n    import time\n    time.sleep(30)\n"
                              "    os._exit(0)"], WRONG, HONEST_PART),
        "forged_records": (["_orig = __grader_record__\n"
                            "def __grader_record__(site, value):\n    return _orig(site, 0.0)\n"
                            "get_ipython().user_ns['__grader_record__'] = __grader_record__\n"
                            "import glob\nfor f in glob.glob('/grading/out/*.jsonl'):\n"
                            "    open(f, 'a').write('{\"index\": 2, \"status\": \"ok\", \"records\": []}\\n')"],
                           WRONG, (0, 0, 0)),
        "endless_loop": ([], {**WRONG, "ex-scale": "def scale(x):\n    while True:\n        pass\n"}, HONEST_PART),
        "memory_bomb": ([], {**WRONG, "ex-kl": "def kl_loss(mu, logvar):\n    hog = bytearray(16 * 2**30)\n"
                                               "    return hog\n"}, HONEST_PART),
        "sleepers": ([f"import subprocess\nkids = []\ntry:\n    for _ in range(200):\n"
                      f"        kids.append(subprocess.Popen(['sleep', '9{TOKEN[-6:].translate(str.maketrans('abcdef', '123456'))}']))\n"
                      "except OSError as err:\n    print('stopped after', len(kids), err)"], WRONG, HONEST_PART),
        "network": ([f"import socket\nfor how in ('connect', 'dns'):\n    try:\n        if how == 'connect':\n"
                     f"            socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
                     "        else:\n            socket.getaddrinfo('pypi.org', 443)\n"
                     f"        print('NETWORK-OK', how)\n    except OSError as err:\n        print('refused', how, err)"],
                    WRONG, HONEST_PART),
        "kill_runner": ([], {"ex-kl": demo.model_answer("ex-kl"), "ex-scale": "import os, signal\n"
                             "os.kill(os.getppid(), signal.SIGKILL)\nos.kill(1, signal.SIGKILL)\nimport time\ntime.sleep(5)"},
                        (2, 0, 0)),
    }
    return {k: tuple(v) for k, v in a.items()}


def layout_attacks(nb: dict, who: str) -> dict:
    """Submissions that move, rename, copy or relabel the test cells (honest answers: full points)."""
    cells = nb["cells"]
    tests = [c for c in cells if c["metadata"].get("nbgrader", {}).get("grade")]
    if who == "test_moved_to_top":
        cells.remove(tests[2])
        cells.insert(0, tests[2])
    elif who == "test_renamed":
        tests[0]["metadata"]["nbgrader"]["grade_id"] = "mine"
        tests[0]["source"] = "pass\n"
    elif who == "test_duplicated":
        cells.insert(cells.index(tests[1]), json.loads(json.dumps(tests[1])))
    elif who == "grade_ids_swapped":
        a, b = tests[0]["metadata"]["nbgrader"], tests[1]["metadata"]["nbgrader"]
        a["grade_id"], b["grade_id"] = b["grade_id"], a["grade_id"]
    elif who == "extra_credit":
        for t in tests:
            t["metadata"]["nbgrader"]["points"] = 100
        cells.append({"cell_type": "code", "metadata": {"nbgrader": {"grade": True, "solution": False, "locked": True,
                      "points": 10, "grade_id": "extra_credit", "schema_version": 3}}, "outputs": [],
                      "execution_count": None, "source": "pass\n"})
    elif who == "notebook_40mb":
        cells[0]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "x" * 40_000_000}]
    return nb


LAYOUT = ["test_moved_to_top", "test_renamed", "test_duplicated", "grade_ids_swapped", "extra_credit", "notebook_40mb"]


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    paths = {"course": tmp / "course", "subs": tmp / "submissions", "output": tmp / "grades", "workdir": tmp / "work"}
    demo.write_course(paths["course"])
    listener = Listener()
    table = attacks(paths, listener.port)
    for who, (before, answers, _) in table.items():
        demo.write_submission(paths["subs"], who, demo.student_notebook(answers, before))
    for who in LAYOUT:
        demo.write_submission(paths["subs"], who, layout_attacks(demo.student_notebook(), who))
    # the course folder is this test's own: it must not change by a byte (the repository is shared with
    # people editing it, so its folders are searched for the text every write attack appends instead)
    watched = {"course": paths["course"]}
    before_hash = {k: tree_hash(v) for k, v in watched.items()}
    venv_bin = sorted(os.listdir(Path(sys.prefix) / "bin"))
    start = time.monotonic()
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "grade.py"), str(paths["subs"]),
                             "--notebooks", str(paths["course"]), "--output", str(paths["output"]),
                             "--workdir", str(paths["workdir"]), "--timeout", "15", "--notebook-timeout", "60",
                             "--memory-mb", "3072", "--workers", "2"],
                            capture_output=True, text=True, cwd=ROOT, timeout=900)
    seconds = time.monotonic() - start
    print(result.stdout[-4000:], result.stderr[-3000:], f"{seconds:.0f} s")
    assert result.returncode == 0, result.stdout + result.stderr
    time.sleep(8)          # longer than the detached process would sleep before rewriting grades.csv
    listener.close()
    after_hash = {k: tree_hash(v) for k, v in watched.items()}
    package_copies = list(paths["workdir"].glob("package-*"))
    assert package_copies, "the grader made no copy of the package"
    with (paths["output"] / "grades.csv").open(encoding="utf-8") as f:
        rows = list(csv.reader(f))
    with (paths["output"] / "totals.csv").open(encoding="utf-8") as f:
        totals = {r["student"]: r for r in csv.DictReader(f)}
    return {"table": table, "rows": rows, "totals": totals, "paths": paths, "listener": listener,
            "hashes": (before_hash, after_hash), "venv_bin": (venv_bin, sorted(os.listdir(Path(sys.prefix) / "bin"))),
            "stdout": result.stdout, "package_copies": package_copies}


def points_of(rows, who):
    got = {r[2]: float(r[3]) for r in rows[1:] if r[0] == who and r[1] == demo.NAME}
    return tuple(got[f"{ex}-tests"] for ex in demo.POINTS)


@pytest.mark.parametrize("who", sorted(attacks({"course": Path("/x"), "subs": Path("/x"), "output": Path("/x"),
                                                  "workdir": Path("/x")}, 1)))
def test_attack_scores_exactly_its_honest_part(hostile_run, who):
    want = hostile_run["table"][who][2]
    got = points_of(hostile_run["rows"], who)
    assert got == tuple(float(x) for x in want), (
        f"{who}: {got}, expected {want}; feedback: "
        f"{hostile_run['paths']['output'] / 'feedback' / who}; problems: {hostile_run['totals'][who]['problems']}")


@pytest.mark.parametrize("who", LAYOUT)
def test_moved_renamed_copied_tests_cost_an_honest_student_nothing(hostile_run, who):
    assert points_of(hostile_run["rows"], who) == (2.0, 2.0, 1.0), hostile_run["totals"][who]["problems"]


def test_status_and_maximum_come_from_the_grader(hostile_run):
    rows, totals = hostile_run["rows"], hostile_run["totals"]
    assert rows[0] == ["student", "notebook", "grade_id", "points", "max_points", "status"]
    for r in rows[1:]:
        if r[1] != "ALL":
            assert float(r[4]) == demo.POINTS[r[2][:-len("-tests")]], r
            assert 0 <= float(r[3]) <= float(r[4]), r
    assert totals["extra_credit"]["max_points"] == "5" and totals["extra_credit"]["points"] == "5"
    assert not any(r[2] == "extra_credit" for r in rows)
    status = {r[0]: r[5] for r in rows[1:] if r[1] == demo.NAME}
    assert status["kill_runner"] == "incomplete"      # not 'graded': the grader saw the run end early
    assert status["honest"] == "graded" and status["endless_loop"] == "graded"
    assert all(t["sandbox"] == "bwrap" for t in totals.values())


def test_nothing_changed_on_the_grading_machine(hostile_run):
    before, after = hostile_run["hashes"]
    assert before == after, "the instructor's course folder changed during grading"
    for folder in (ROOT / "vae_course", ROOT / "grading", ROOT / "scripts", ROOT / "notebooks",
                   hostile_run["paths"]["subs"] / "honest", *hostile_run["package_copies"]):
        assert not files_holding(folder, TOKEN), f"a submission wrote into {files_holding(folder, TOKEN)}"
    assert hostile_run["venv_bin"][0] == hostile_run["venv_bin"][1]
    for place in (Path("/tmp"), Path.home(), ROOT / "notebooks"):
        assert not any(p.name.startswith(TOKEN) for p in place.iterdir()), f"a submission wrote into {place}"
    assert "hacked" not in (hostile_run["paths"]["output"] / "grades.csv").read_text()
    assert (hostile_run["paths"]["subs"] / "honest" / f"{demo.NAME}.ipynb").read_text().count(TOKEN) == 0


def test_no_process_outlives_its_notebook(hostile_run):
    digits = TOKEN[-6:].translate(str.maketrans("abcdef", "123456"))
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert TOKEN not in ps and f"sleep 9{digits}" not in ps


def test_no_network(hostile_run):
    assert hostile_run["listener"].count == 0
    page = (hostile_run["paths"]["output"] / "feedback" / "network" / f"{demo.NAME}.html").read_text()
    assert "NETWORK-OK connect" not in page and "NETWORK-OK dns" not in page
    assert "refused connect" in page and "refused dns" in page


def test_limits_show_in_the_feedback(hostile_run):
    fb = hostile_run["paths"]["output"] / "feedback"
    assert "MemoryError" in (fb / "memory_bomb" / f"{demo.NAME}.html").read_text()
    assert "CellTimeout" in (fb / "endless_loop" / f"{demo.NAME}.html").read_text()
    assert re.search(r"stopped after \d+ ", (fb / "sleepers" / f"{demo.NAME}.html").read_text())
    assert "FOUND 0" in (fb / "read_answers" / f"{demo.NAME}.html").read_text()
    page = (fb / "write_everywhere" / f"{demo.NAME}.html").read_text()
    # what lies under /tmp on this machine is, in the sandbox, in its own empty /tmp: writing there changes nothing
    # here (test_nothing_changed_on_the_grading_machine); everything else must be refused. The repository and
    # pytest's folders may themselves lie under /tmp (a CI clone often does), so count only what must be refused.
    attempts = re.findall(r"(WROTE|refused) (/\S*)", page)
    assert len(attempts) >= 12, attempts
    assert all(path.startswith("/tmp/") for what, path in attempts if what == "WROTE"), attempts
    outside_tmp = [path for what, path in attempts if not path.startswith("/tmp/")]
    assert outside_tmp and all(what == "refused" for what, path in attempts if not path.startswith("/tmp/"))


def test_feedback_never_shows_hidden_tests(hostile_run):
    fb = hostile_run["paths"]["output"] / "feedback"
    for page in fb.rglob("*.html"):
        text = page.read_text()
        for hidden in ("BEGIN HIDDEN", "random batch", "hidden inputs", "linspace(-2.0", "count_positive, hidden"):
            assert hidden not in text, (hidden, page)
    honest = (fb / "honest" / f"{demo.NAME}.html").read_text()
    assert "x_secret" not in honest
    assert "5 / 5 points" in honest
