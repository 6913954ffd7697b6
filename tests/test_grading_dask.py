"""Grading a class on Dask: the same grades as a serial run, a worker killed mid-run, a killed run resumed.

The course is grading/demo_course.py's one notebook; each submission sleeps 3 s so that students
are in flight when a worker is killed. Three grading runs of 6 small submissions (one worker, then a
scheduler with 3 workers started here) and a resumed run of 3 submissions: about 2 minutes on 2 cores.
"""
from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grading import demo_course as demo  # noqa: E402
from grading import sandbox  # noqa: E402

pytestmark = pytest.mark.skipif(sandbox.bwrap_problem() is not None,
                                reason=f"no sandbox here: {sandbox.bwrap_problem()}")

SLEEP = "import time\ntime.sleep(3)"
WRONG_KL = "def kl_loss(mu, logvar):\n    return (0.5 * mu**2).sum(1).mean()\n"
STUDENTS = {
    "s1_honest": ({}, (2, 2, 1)),
    "s2_wrong_kl": ({"ex-kl": WRONG_KL}, (0, 2, 1)),
    "s3_stubs": ({"ex-kl": "def kl_loss(mu, logvar):\n    raise NotImplementedError()\n",
                  "ex-scale": "def scale(x):\n    raise NotImplementedError()\n"}, (0, 0, 1)),
    "s4_honest": ({}, (2, 2, 1)),
    "s5_wrong_scale": ({"ex-scale": "def scale(x):\n    return x\n"}, (2, 0, 1)),
    "s6_nothing": ({"ex-kl": "", "ex-scale": "", "ex-count": ""}, (0, 0, 0)),
}


def read(output: Path) -> tuple[list, dict]:
    with (output / "grades.csv").open(encoding="utf-8") as f:
        rows = list(csv.reader(f))
    with (output / "totals.csv").open(encoding="utf-8") as f:
        totals = list(csv.DictReader(f))
    return rows, totals


def grade(subs: Path, course: Path, output: Path, workdir: Path, *extra) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "grade.py"), str(subs), "--notebooks", str(course),
                             "--output", str(output), "--workdir", str(workdir), "--timeout", "30",
                             "--notebook-timeout", "90", *map(str, extra)],
                            capture_output=True, text=True, cwd=ROOT, timeout=600)
    print(result.stdout[-3000:], result.stderr[-3000:])
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture(scope="module")
def course_and_subs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dask")
    course = tmp / "course"
    demo.write_course(course)
    for who, (answers, _) in STUDENTS.items():
        demo.write_submission(tmp / "subs", who, demo.student_notebook(answers, before=[SLEEP]))
    return tmp, course, tmp / "subs"


@pytest.fixture(scope="module")
def serial(course_and_subs):
    tmp, course, subs = course_and_subs
    grade(subs, course, tmp / "serial", tmp / "work", "--workers", 1)
    return read(tmp / "serial")


def by_student(rows: list) -> dict:
    return {who: sorted(tuple(r) for r in rows[1:] if r[0] == who) for who in {r[0] for r in rows[1:]}}


def test_serial_run_scores_each_student(serial):
    rows, totals = serial
    for who, (_, points) in STUDENTS.items():
        got = tuple(float(r[3]) for r in rows[1:] if r[0] == who and r[1] == demo.NAME)
        assert got == tuple(float(p) for p in points), who
    assert sorted(t["student"] for t in totals) == sorted(STUDENTS)


def test_three_workers_with_one_killed_grade_everyone_exactly_once(course_and_subs, serial):
    from dask.distributed import Client, LocalCluster

    tmp, course, subs = course_and_subs
    cluster = LocalCluster(n_workers=3, threads_per_worker=1, processes=True, dashboard_address=None,
                           memory_limit=0, host="127.0.0.1", silence_logs=40)
    client = Client(cluster)
    killed = {}

    def kill_one_busy_worker():
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not killed:
            busy = {w: keys for w, keys in client.processing().items()
                    if any(str(k).startswith("grade-") for k in keys)}
            if busy:
                time.sleep(1.5)               # the student is in its sandbox now
                worker = sorted(busy)[0]
                pids = client.run(os.getpid, workers=[worker])
                os.kill(pids[worker], signal.SIGKILL)
                killed[worker] = busy[worker]
                return
            time.sleep(0.2)

    try:
        assert len(client.scheduler_info()["workers"]) == 3
        killer = threading.Thread(target=kill_one_busy_worker)
        killer.start()
        result = grade(subs, course, tmp / "parallel", tmp / "work", "--scheduler", cluster.scheduler_address)
        killer.join()
    finally:
        client.close()
        cluster.close()
    assert killed, "no worker was busy with a student: the kill did not happen mid-run"
    rows, totals = read(tmp / "parallel")
    assert sorted(t["student"] for t in totals) == sorted(STUDENTS), "a student lost or counted twice"
    assert by_student(rows) == by_student(serial[0]), "the grades differ from the serial run"
    assert "3 Dask worker(s)" in result.stdout


def test_a_killed_run_resumes_where_it_stopped(course_and_subs):
    tmp, course, _ = course_and_subs
    subs = tmp / "subs_resume"
    for who in ("r1", "r2", "r3"):
        demo.write_submission(subs, who, demo.student_notebook({"ex-kl": WRONG_KL} if who == "r2" else {}))
    output = tmp / "resumed"
    grade(subs, course, output, tmp / "work", "--workers", 2)
    first_rows, totals = read(output)
    # as if grade.py was killed while writing the third student: two complete, the third's rows cut short
    keep = [t["student"] for t in totals[:2]]
    third = totals[2]["student"]
    with (output / "totals.csv").open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(totals[0]))
        writer.writeheader()
        writer.writerows(totals[:2])
    with (output / "grades.csv").open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([first_rows[0]] + [r for r in first_rows[1:] if r[0] in keep]
                                + [r for r in first_rows[1:] if r[0] == third][:1])
    result = grade(subs, course, output, tmp / "work", "--workers", 2)
    assert "resuming: 2 student(s) already graded" in result.stdout
    assert f"  {keep[0]}:" not in result.stdout and f"  {keep[1]}:" not in result.stdout   # not graded again
    assert f"  {third}:" in result.stdout
    new_rows, new_totals = read(output)
    assert sorted(t["student"] for t in new_totals) == ["r1", "r2", "r3"]
    assert by_student(new_rows) == by_student(first_rows)
