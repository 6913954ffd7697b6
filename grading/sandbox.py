"""The sandbox a notebook is graded in: bubblewrap (``bwrap``) plus resource limits.

What the code inside sees (see the README's table, "What a graded notebook may do"):

- its own network namespace (no interface but a loopback of its own: nothing outside answers);
- its own process namespace: when the notebook's runner ends, every process it started ends too;
- a private ``/tmp`` (a size-limited tmpfs) that is also its home;
- read-only: ``/usr``, the Python installation and the virtual environment, and a *copy* of the
  course package made for this grading run (never the repository itself);
- one folder, read-only, holding the cells to run (its own notebook, nothing else), and one
  writable folder for the results;
- limits: address space (memory), CPU seconds, open files, size of a written file, and the
  number of processes (a pids cgroup when the grader may create one, else RLIMIT_NPROC).

``run_sandboxed`` runs ``python runner.py job.json OUT_DIR`` this way and waits at most
``wall_timeout`` seconds, then kills the whole sandbox.
"""
from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Limits", "SandboxUnavailable", "bwrap_problem", "run_sandboxed", "INSTALL_HINT"]

INSTALL_HINT = ("install bubblewrap (Debian/Ubuntu: sudo apt-get install bubblewrap; Fedora: sudo dnf install "
                "bubblewrap), or grade without a sandbox with --no-sandbox (student code then runs as you, "
                "with your files and network: only for trusted submissions)")
CGROUP_PIDS = Path("/sys/fs/cgroup/pids")


class SandboxUnavailable(RuntimeError):
    """bwrap is missing or cannot create its namespaces here."""


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandboxed notebook run."""

    memory_mb: int = 4096          # address space of each process (RLIMIT_AS)
    cpu_seconds: int = 1800        # CPU time of each process (RLIMIT_CPU)
    processes: int = 128           # processes and threads together
    open_files: int = 512          # RLIMIT_NOFILE
    file_mb: int = 64              # largest file it may write, its output streams included (RLIMIT_FSIZE)
    tmp_mb: int = 256              # size of its private /tmp

    def __post_init__(self):
        for name in ("memory_mb", "cpu_seconds", "processes", "open_files", "file_mb", "tmp_mb"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Limits.{name} must be a positive int, got {value!r}")


_BWRAP_OK: dict = {}


def bwrap_problem() -> str | None:
    """None when bwrap is installed and can create its namespaces here; else why not."""
    if "result" in _BWRAP_OK:
        return _BWRAP_OK["result"]
    exe = shutil.which("bwrap")
    if exe is None:
        result = "bwrap (bubblewrap) is not installed"
    else:
        probe = subprocess.run([exe, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "true"],
                               capture_output=True, text=True)
        result = None if probe.returncode == 0 else f"bwrap cannot create a sandbox here: {probe.stderr.strip()[:300]}"
    _BWRAP_OK["result"] = result
    return result


def _python_roots() -> list[Path]:
    """The folders the interpreter needs: the installation (base prefix) and the virtual environment."""
    roots = []
    for p in {sys.base_prefix, sys.prefix, sys.exec_prefix, sys.base_exec_prefix}:
        path = Path(p).resolve()
        if not any(path == r or r in path.parents for r in roots):
            roots.append(path)
    real = Path(os.path.realpath(sys.executable)).parent.parent
    if not any(real == r or r in real.parents for r in roots):
        roots.append(real)
    # a parent of another is enough
    return sorted({r for r in roots if not any(o != r and o in r.parents for o in roots)})


def _cgroup_for(limits: Limits) -> Path | None:
    """A new pids cgroup (v1) limited to ``limits.processes``, or None when the grader may not make one."""
    try:
        if not os.access(CGROUP_PIDS, os.W_OK):
            return None
        group = CGROUP_PIDS / f"vae-grading-{uuid.uuid4().hex[:12]}"
        group.mkdir()
        (group / "pids.max").write_text(str(limits.processes))
        return group
    except OSError:
        return None


def _remove_cgroup(group: Path | None) -> None:
    if group is None:
        return
    for _ in range(50):
        try:
            group.rmdir()
            return
        except OSError:
            time.sleep(0.1)


def sandbox_argv(job_dir: Path, out_dir: Path, package_dir: Path, runner: Path, limits: Limits,
                 env: dict) -> list[str]:
    """The bwrap command line that runs the runner on ``job_dir`` (read-only) into ``out_dir`` (writable)."""
    argv = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
            "--uid", "1000", "--gid", "1000", "--hostname", "grading",
            "--ro-bind", "/usr", "/usr"]
    for link in ("bin", "lib", "lib64", "sbin"):
        target = Path("/") / link
        if target.is_symlink():
            argv += ["--symlink", os.readlink(target), f"/{link}"]
        elif target.is_dir():
            argv += ["--ro-bind", str(target), f"/{link}"]
    for etc in ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/localtime", "/etc/fonts"):
        if Path(etc).exists():
            argv += ["--ro-bind", etc, etc]
    argv += ["--proc", "/proc", "--dev", "/dev",
             "--size", str(limits.tmp_mb * 2**20), "--tmpfs", "/tmp"]
    for root in _python_roots():
        argv += ["--ro-bind", str(root), str(root)]
    argv += ["--ro-bind", str(package_dir), "/grading/package",
             "--ro-bind", str(runner), "/grading/runner.py",
             "--ro-bind", str(job_dir), "/grading/job",
             "--bind", str(out_dir), "/grading/out",
             "--remount-ro", "/",              # the sandbox's own root: nothing to write outside /tmp and the results
             "--chdir", "/tmp", "--clearenv"]
    for key, value in env.items():
        argv += ["--setenv", key, value]
    return argv


def sandbox_env(extra: dict | None = None) -> dict:
    """The environment inside the sandbox: nothing of the grader's but what is listed here."""
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": "/tmp",
        "TMPDIR": "/tmp",
        "PYTHONPATH": "/grading/package",
        "PYTHONDONTWRITEBYTECODE": "1",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": "/tmp/matplotlib",
        "VAE_COURSE_FIGURES": "/tmp/figures",
        "VAE_COURSE_PROGRESS": "0",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "LANG": "C.UTF-8",
    }
    env.update(extra or {})
    return env


@dataclass
class RunOutcome:
    """What the grader itself saw of one sandboxed run (the result file is the sandbox's word)."""

    returncode: int | None
    timed_out: bool
    seconds: float
    log: str
    sandboxed: bool
    notes: list = field(default_factory=list)


def _limit(limits: Limits, sandboxed: bool):
    def apply():
        os.setsid()
        mem = limits.memory_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 5))
        resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_mb * 2**20, limits.file_mb * 2**20))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if os.getuid() != 0:    # root ignores RLIMIT_NPROC; the pids cgroup covers that case
            resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))
    return apply


def run_sandboxed(job_dir: Path, out_dir: Path, package_dir: Path, runner: Path, limits: Limits,
                  wall_timeout: float, env_extra: dict | None = None, sandbox: bool = True) -> RunOutcome:
    """Run the runner on ``job_dir/job.json`` into ``out_dir/<notebook>.jsonl``; kill everything after ``wall_timeout`` s.

    With ``sandbox=False`` the runner runs as a plain subprocess (no namespaces: for --no-sandbox).
    """
    job_dir, out_dir = Path(job_dir).resolve(), Path(out_dir).resolve()
    package_dir, runner = Path(package_dir).resolve(), Path(runner).resolve()
    if not (job_dir / "job.json").is_file():
        raise FileNotFoundError(f"job_dir must hold job.json, {job_dir} does not")
    if not wall_timeout or wall_timeout <= 0:
        raise ValueError(f"wall_timeout must be > 0 seconds, got {wall_timeout!r}")
    out_dir.mkdir(parents=True, exist_ok=True)
    env = sandbox_env(env_extra)
    notes = []
    if sandbox:
        problem = bwrap_problem()
        if problem:
            raise SandboxUnavailable(f"{problem}; {INSTALL_HINT}")
        argv = sandbox_argv(job_dir, out_dir, package_dir, runner, limits, {**env, "VAE_GRADING_SANDBOX": "1"})
        argv += ["--", sys.executable, "/grading/runner.py", "/grading/job/job.json", "/grading/out"]
        run_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    else:
        argv = [sys.executable, str(runner), str(job_dir / "job.json"), str(out_dir)]
        run_env = {**env, "PYTHONPATH": str(package_dir), "HOME": str(out_dir), "TMPDIR": str(out_dir),
                   "MPLCONFIGDIR": str(out_dir / "matplotlib"), "VAE_COURSE_FIGURES": str(out_dir / "figures")}
    group = _cgroup_for(limits) if sandbox else None
    if sandbox and group is None and os.getuid() == 0:
        notes.append("no pids cgroup available: the process limit is not enforced for root")
    log_path = out_dir / "sandbox.log"
    start = time.monotonic()
    timed_out = False
    with open(log_path, "wb") as log:
        pre = _limit(limits, sandbox)
        if group is not None:
            def pre(_inner=pre, _group=group):   # join the pids cgroup first, then the limits
                (_group / "cgroup.procs").write_text(str(os.getpid()))
                _inner()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                env=run_env, preexec_fn=pre, cwd=str(out_dir) if not sandbox else "/")
        try:
            proc.wait(timeout=wall_timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)   # the sandbox and, without bwrap, what it started
            except (ProcessLookupError, PermissionError):
                pass
            proc.wait()
    _remove_cgroup(group)
    seconds = time.monotonic() - start
    with open(log_path, "rb") as f:
        f.seek(max(0, log_path.stat().st_size - 4000))
        tail = f.read().decode("utf-8", "replace")
    return RunOutcome(returncode=None if timed_out else proc.returncode, timed_out=timed_out,
                      seconds=seconds, log=tail, sandboxed=sandbox, notes=notes)


def scratch_dir(prefix: str = "vae-grading-") -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))
