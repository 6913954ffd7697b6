"""Run one notebook's cells inside the grading sandbox and write what happened, cell by cell.

    python runner.py JOB.json OUT_DIR

This file is copied into the sandbox and run there by ``grading/sandbox.py``; it imports nothing
from the course but the standard library, IPython and (lazily) numpy and torch. Everything it
writes is read by the grader as untrusted data: the student's code runs in this same interpreter
and may replace any of it. What the grader trusts is only what it computes itself.

JOB.json: ``{"notebooks": [{"name": "00_start_here", "cells": [{"index": i, "kind": "code" | "test" |
"reference", "source": "...", "seed": n}]}], "cell_timeout": seconds, "notebook_timeout": seconds,
"max_output_chars": n, "max_value_elements": n, "preload": [modules]}``. The modules are imported
once; each notebook then runs in a forked child of this warm process (a fresh namespace, no second
import of torch), and every process it started is killed when it ends.

- ``code`` cells run through IPython (magics work), with their text output captured and capped;
- ``test`` cells are the grader's copies of the test cells, where every check was replaced by
  ``__grader_record__(site, value)``: the value under test is written out as plain numbers;
- ``reference`` cells (the trusted run of the instructor's notebook only) call
  ``__grader_reference__(site, kind, *args)``, which writes the expected values as well.

OUT_DIR/<name>.jsonl: one line per cell, written as soon as the cell ends:
``{"index", "status": "ok" | "error" | "timeout", "error": {...}, "output": "...", "records": [...],
"seconds"}``.
"""
from __future__ import annotations

import io
import json
import os
import random
import signal
import sys
import time
import traceback

DEFAULT_TIMEOUT = 120


class CellTimeout(BaseException):
    """Raised in the cell's code when it runs past the time limit of a cell."""


class CappedText(io.TextIOBase):
    """A text stream that keeps the first ``limit`` characters and counts the rest."""

    def __init__(self, limit: int):
        self.limit, self.parts, self.kept, self.dropped = limit, [], 0, 0

    def writable(self):
        return True

    def write(self, text):
        text = str(text)
        room = self.limit - self.kept
        if room > 0:
            self.parts.append(text[:room])
            self.kept += min(room, len(text))
        self.dropped += max(0, len(text) - max(room, 0))
        return len(text)

    def flush(self):
        pass

    def value(self) -> str:
        text = "".join(self.parts)
        if self.dropped:
            text += f"\n[output truncated by the grader: {self.dropped} more characters]\n"
        return text


def _qualname(t) -> str:
    try:
        return f"{t.__module__}.{t.__qualname__}"
    except Exception:  # a hostile type
        return "?"


def encode(value, max_elements: int = 2_000_000) -> dict:
    """``value`` as JSON data: none, bool, str, an array of numbers (dtype kind, shape, flat values), or an object.

    "types" lists the qualified names of the value's classes (for check_type).
    """
    try:
        types = [_qualname(t) for t in type(value).__mro__]
    except Exception:
        types = []
    if value is None:
        return {"t": "none", "types": types}
    if isinstance(value, bool):
        return {"t": "bool", "v": bool(value), "types": types}
    if isinstance(value, str):
        return {"t": "str", "v": value[:1000], "types": types}
    try:
        import numpy as np

        torch = sys.modules.get("torch")

        def plain(v):
            if torch is not None and isinstance(v, torch.Tensor):
                t = v.detach().cpu()
                if t.dtype in (torch.bfloat16, torch.float16):
                    t = t.float()
                return t.numpy()
            return v

        if isinstance(value, (list, tuple)):
            arr = np.asarray([plain(v) for v in value])
        else:
            arr = np.asarray(plain(value))
        if arr.dtype.kind not in "biuf" or arr.size > max_elements:
            raise ValueError
        kind = arr.dtype.kind
        flat = arr.astype(float if kind == "f" else (bool if kind == "b" else int)).ravel().tolist()
        return {"t": "array", "dtype": kind, "shape": list(arr.shape), "v": flat, "types": types}
    except Exception:
        return {"t": "object", "types": types}


class Runner:
    def __init__(self, job: dict, result_path: str):
        self.job = job
        self.out = open(result_path, "a", encoding="utf-8")
        self.timeout = float(job.get("cell_timeout", DEFAULT_TIMEOUT))
        self.max_chars = int(job.get("max_output_chars", 100_000))
        self.max_elements = int(job.get("max_value_elements", 2_000_000))
        self.records: list = []
        from IPython.core.interactiveshell import InteractiveShell

        self.shell = InteractiveShell.instance(colors="nocolor")
        self.shell.enable_gui = lambda gui=None: None      # %matplotlib inline without a front end
        self.shell.user_ns["__grader_record__"] = self.record
        self.shell.user_ns["__grader_reference__"] = self.reference

    # -- called from the cells
    def record(self, site, value):
        self.records.append({"site": int(site), "value": encode(value, self.max_elements)})

    def reference(self, site, kind, *args, **kwargs):
        """Trusted run only: evaluate a check of the instructor's test cell and record all of its arguments."""
        import inspect

        from vae_course import exercises

        funcs = {"close": exercises.check_close, "shape": exercises.check_shape,
                 "true": exercises.check_true, "type": exercises.check_type}
        bound = inspect.signature(funcs[kind]).bind(*args, **kwargs)
        bound.apply_defaults()
        a = dict(bound.arguments)
        got_key = "condition" if kind == "true" else "got"
        entry = {"site": int(site), "kind": kind, "name": str(a["name"]),
                 "value": encode(a[got_key], self.max_elements)}
        if kind == "close":
            entry.update(expected=encode(a["expected"], self.max_elements), atol=float(a["atol"]), rtol=float(a["rtol"]))
        elif kind == "shape":
            entry.update(shape=[int(d) for d in a["expected_shape"]])
        elif kind == "type":
            t = a["expected_type"]
            entry.update(types=[_qualname(x) for x in (t if isinstance(t, tuple) else (t,))])
        else:
            entry.update(message=str(a["message"]))
        try:
            funcs[kind](*args, **kwargs)
            entry["passed"] = True
        except AssertionError as err:
            entry.update(passed=False, failure=str(err)[:2000])
        self.records.append(entry)

    # -- running
    def _alarm(self, signum, frame):
        raise CellTimeout(f"the cell ran past {self.timeout:g} s")

    def emit(self, obj):
        self.out.write(json.dumps(obj, allow_nan=True) + "\n")
        self.out.flush()

    def run_cell(self, cell: dict) -> None:
        self.records = []
        out = CappedText(self.max_chars)
        saved = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = out
        status, error = "ok", None
        start = time.monotonic()
        if cell.get("seed") is not None:
            self._seed(int(cell["seed"]))
        signal.signal(signal.SIGALRM, self._alarm)
        signal.setitimer(signal.ITIMER_REAL, self.timeout)
        try:
            if cell["kind"] == "code":
                result = self.shell.run_cell(cell["source"], store_history=False)
                exc = result.error_before_exec or result.error_in_exec
                if exc is not None:
                    raise exc
            else:
                code = compile(cell["source"], f"<test-cell-{cell['index']}>", "exec")
                exec(code, self.shell.user_ns)
        except BaseException as exc:  # noqa: BLE001  (everything a cell can raise is reported)
            status = "timeout" if isinstance(exc, CellTimeout) else "error"
            line = None
            for frame, lineno in traceback.walk_tb(exc.__traceback__):
                if frame.f_code.co_filename == f"<test-cell-{cell['index']}>":
                    line = lineno
            error = {"ename": type(exc).__name__, "evalue": str(exc)[:2000], "line": line}
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            sys.stdout, sys.stderr = saved
        self.emit({"index": cell["index"], "status": status, "error": error, "output": out.value(),
                   "records": self.records, "seconds": round(time.monotonic() - start, 3)})

    @staticmethod
    def _seed(seed: int) -> None:
        random.seed(seed)
        if "numpy" in sys.modules:
            sys.modules["numpy"].random.seed(seed)
        if "torch" in sys.modules:
            sys.modules["torch"].manual_seed(seed)

    def run(self) -> None:
        for cell in self.job["cells"]:
            self.run_cell(cell)
        self.emit({"done": True})


def _kill_others() -> None:
    """Inside the sandbox's own process namespace: end every process but this one and the namespace's init."""
    me = os.getpid()
    for _ in range(3):
        others = [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, me)]
        if not others:
            return
        for pid in others:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        for pid in others:
            try:
                os.waitpid(pid, 0)
            except OSError:
                pass


def run_notebook(notebook: dict, out_dir: str, job: dict) -> None:
    """Run one notebook in a forked child (a fresh namespace, the imports already warm); end all it started."""
    result = os.path.join(out_dir, notebook["name"] + ".jsonl")
    limit = float(notebook.get("timeout", job.get("notebook_timeout", 1800)))
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            Runner({**job, **notebook}, result).run()
        finally:
            os._exit(0)
    deadline = time.monotonic() + limit
    status = None
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.05)
    else:
        status = "timeout"
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass
    if status == "timeout":
        try:
            os.waitpid(pid, 0)
        except OSError:
            pass
    if os.environ.get("VAE_GRADING_SANDBOX") == "1":
        _kill_others()


def main(argv) -> int:
    if len(argv) != 3:
        sys.stderr.write("usage: runner.py JOB.json OUT_DIR\n")
        return 2
    with open(argv[1], encoding="utf-8") as f:
        job = json.load(f)
    cache = job.get("matplotlib_cache")
    if cache and os.path.isdir(cache):
        import shutil
        shutil.copytree(cache, os.environ.get("MPLCONFIGDIR", "/tmp/matplotlib"), dirs_exist_ok=True)
    start = time.monotonic()
    for name in job.get("preload", []):     # warm imports once; every notebook forks from here
        try:
            __import__(name)
        except Exception:
            pass
    with open(os.path.join(argv[2], "_preload.json"), "w", encoding="utf-8") as f:
        json.dump({"seconds": round(time.monotonic() - start, 3)}, f)
    for notebook in job["notebooks"]:
        run_notebook(notebook, argv[2], job)
    import resource
    use = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    with open(os.path.join(argv[2], "_cpu.json"), "w", encoding="utf-8") as f:   # the sandbox's CPU seconds
        json.dump({"seconds": round(sum(u.ru_utime + u.ru_stime for u in use), 2)}, f)
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
