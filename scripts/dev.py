"""Set-up and entry points that work on a fresh machine with only Python 3 and the package registries.

    python3 scripts/dev.py demo [--live]   # venv + runtime deps, then `fal-avatar demo`
    python3 scripts/dev.py test [pytest args]   # venv + test deps, then ruff (lint and format check), the
                                                # web tests and pytest (in parallel workers; -n 0 runs one
                                                # process)

Everything goes into ./.venv. torch is installed only when it is missing (a local wheel, else the CPU
build) and an existing torch is never upgraded or replaced.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
# Most tests wait on an emulator, a subprocess or a socket, so more workers than cores pays off
# (pytest-xdist). On 2 cores, pytest alone: on a quiet machine 8 workers took 114 s and 6 took 118 s; with
# two busy loops keeping both cores loaded, 8 took 134 s and 6 took 147 s. Tests sharing one expensive
# fixture stay on one worker (``@pytest.mark.xdist_group``).
MIN_WORKERS = 8
PYTEST_WORKERS = ("-n", str(max(MIN_WORKERS, os.cpu_count() or 1)), "--dist", "loadgroup")
NO_TESTS_COLLECTED = 5  # pytest's exit code
# pip 23 (Python 3.11's own) spends most of an install matching wheel tags: a current pip installs the project
# with about half the CPU. With setuptools in .venv, the project's editable build needs no isolated build
# environment (which installs setuptools again).
BUILD_TOOLS = ("pip", "setuptools")
COLLECT_WITHOUT_TORCH = (
    "import sys; sys.modules['torch'] = None; import pytest; "
    "sys.exit(pytest.main(['--collect-only', '-q', '-p', 'no:cacheprovider']))"
)


def say(message: str) -> None:
    print(f"[dev] {message}", file=sys.stderr, flush=True)


def run(*cmd, check: bool = True, **kw) -> int:
    return subprocess.run([str(c) for c in cmd], check=check, **kw).returncode


def pip_start(*args, **kw) -> Callable[[bool], int]:
    """Start ``pip install`` into .venv; the returned call waits for it (raising on failure if asked) and
    returns its exit code. Its output (the build backend's warnings, the resolver's notes on torch's
    dependencies, which a later step installs) is shown only when it fails."""
    quiet = ("--disable-pip-version-check", "-q")
    cmd = [str(PY), "-m", "pip", *quiet, "install", "--no-compile", *map(str, args)]
    pip = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)

    def wait(check: bool = True) -> int:
        output, _ = pip.communicate()
        if pip.returncode and check:
            sys.stderr.write(output)
            raise subprocess.CalledProcessError(pip.returncode, cmd)
        return pip.returncode

    return wait


def pip_install(*args, check: bool = True, **kw) -> int:
    return pip_start(*args, **kw)(check)


def has_torch() -> bool:
    """Whether .venv has torch installed (found, not imported: importing it costs seconds on every run)."""
    probe = "import importlib.util, sys; sys.exit(importlib.util.find_spec('torch') is None)"
    return run(PY, "-c", probe, check=False, stderr=subprocess.DEVNULL) == 0


def install_torch() -> str:
    """Install torch alone (its dependencies follow in ensure_env): a locally provided wheel (pip's
    find-links; no network, fails at once without one), else the CPU build from PyTorch's index, else the
    default index. Returns where it came from; when every attempt fails, the last one's error is shown and
    raised."""
    attempts = (
        ("local wheel", ("--no-index",)),
        (
            "PyTorch CPU index",
            ("--isolated", "--retries", "0", "--timeout", "15", "--index-url", TORCH_CPU_INDEX),
        ),
        ("default index", ()),
    )
    for label, extra in attempts[:-1]:
        if pip_install("--no-deps", *extra, "torch", check=False) == 0:
            return label
        say(f"torch: nothing usable from the {label}")
    label, extra = attempts[-1]
    pip_install("--no-deps", *extra, "torch")
    return label


def torch_version() -> str:
    """The installed torch's version, read from its metadata (importing torch takes seconds)."""
    probe = "import importlib.metadata as m; print(m.version('torch'))"
    return subprocess.run([str(PY), "-c", probe], capture_output=True, text=True, check=True).stdout.strip()


def create_venv() -> None:
    """.venv with a current pip and setuptools (see ensure_env). This Python's own pip installs them into a
    venv made without pip (``--python``, pip 22.3+: 1 s); without such a pip, the venv's bundled pip is
    installed (ensurepip: 3 CPU-seconds) and then updated."""
    say(f"creating {VENV}")
    venv.EnvBuilder(with_pip=False).create(VENV)
    outer = (sys.executable, "-m", "pip", "--disable-pip-version-check", "--python", PY)
    if run(*outer, "install", "-q", "--no-compile", *BUILD_TOOLS, check=False, capture_output=True) != 0:
        run(PY, "-m", "ensurepip", "--default-pip", stdout=subprocess.DEVNULL)
        pip_install("--upgrade", *BUILD_TOOLS)


@dataclass(frozen=True)
class Install:
    """What ensure_env started: whether anything is being installed, and two waits."""

    installed: bool
    torch: Callable[[], None]  # until torch itself is installed (its dependencies then follow)
    finish: Callable[[], None]  # until everything is installed, then recorded as done


def ensure_env(extra: str) -> Install:
    """Create .venv and install the project (``extra`` = "" or "test") and, only if it is missing, torch;
    skips work already done and never touches an installed torch. Returns once the project is installed:
    torch installs in the background, and then its own dependencies (none of them is imported by
    ``import torch`` or by the project, so the caller may use both meanwhile).

    pip installs without byte-compiling (torch alone has 2,285 modules, most never imported): the first
    import compiles what a run uses."""
    fresh = not PY.exists()
    if fresh:
        create_venv()
    spec = f".[{extra}]" if extra else "."
    stamp = VENV / f".installed-{extra or 'runtime'}"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    project_missing = not (stamp.exists() and stamp.read_text() == digest)
    torch_missing = not has_torch()
    if not (project_missing or torch_missing):
        return Install(False, lambda: None, lambda: None)
    if project_missing and not fresh:
        say("updating pip and setuptools in .venv")  # before the installs below, which run side by side
        pip_install("--upgrade", *BUILD_TOOLS)
    constraints = VENV / "constraints.txt"
    guard: tuple = ()
    if not torch_missing:
        constraints.write_text(f"torch=={torch_version()}\n")
        guard = ("-c", constraints)  # never upgrade the installed torch
    # pip runs on one core: torch (the largest wheel) and the project install side by side use both.
    # Nothing the project needs depends on torch, so the two never install the same package.
    torch_source = None
    if torch_missing:
        say("torch is missing: installing it (once), beside the project")
        torch_source = ThreadPoolExecutor(1).submit(install_torch)
    if project_missing:
        say(f"installing comfyui-fal-avatar{'[' + extra + ']' if extra else ''} into .venv")
        pip_install(*guard, "--no-build-isolation", "-e", spec, cwd=ROOT)
    dependencies: list[Callable[[bool], int]] = []

    def torch_installed() -> None:
        if torch_source is None or dependencies:
            return
        say(f"torch installed from the {torch_source.result()}")
        constraints.write_text(f"torch=={torch_version()}\n")
        say("installing torch's own dependencies in the background")
        dependencies.append(pip_start("-c", constraints, "torch"))  # torch stays as installed

    def finish() -> None:
        torch_installed()
        for wait in dependencies:
            wait(True)
        stamp.write_text(digest)

    return Install(True, torch_installed, finish)


def has_rewritten_tests() -> bool:
    """Whether pytest has cached its assertion-rewritten test modules (``*-pytest-<version>.pyc``)."""
    return any((ROOT / "tests" / "__pycache__").glob("conftest.*-pytest-*.pyc"))


def cmd_test(args: list[str]) -> int:
    install = ensure_env("test")  # torch may still be installing: nothing up to the warm-up needs it
    say("ruff (Comfy Registry rules S102, S307, E702 as errors, the project's lint set, the format check)")
    run(BIN / "ruff", "check", "--select", "S102,S307,E702", ".", cwd=ROOT)
    run(BIN / "ruff", "check", ".", cwd=ROOT)
    run(BIN / "ruff", "format", "--check", ".", cwd=ROOT)
    env = dict(os.environ)
    # The workers already use every core: torch's OpenMP threads and numpy's OpenBLAS threads would only
    # compete with them, and spin while they wait (perf: libgomp took more CPU than torch's own work).
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    node = shutil.which("node")
    web = None
    if node:
        say("web tests (node --test) beside pytest; their report follows pytest's")
        web_tests = sorted(str(p) for p in (ROOT / "tests" / "web").glob("*.test.mjs"))
        web = subprocess.Popen(
            [node, "--test", *web_tests], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
    else:
        say("node is not installed: the web extension's logic tests are skipped")
    # A fresh clone or venv: bytecode for what the tests import, and pytest's rewritten test modules, made
    # once instead of by every worker at its start (the rewrite alone is about 4 CPU-seconds a worker). Two
    # processes side by side: one imports torch (once it is installed); the other collects the tests with
    # torch hidden, so the two never compile the same module (a test module that needs torch fails to import
    # there, after pytest has written its rewritten form). A collection error shows again, with its cause,
    # in the run below.
    warm_up = install.installed or not has_rewritten_tests()
    quiet = {"cwd": ROOT, "env": env, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    if warm_up:
        say("compiling what the tests import and rewriting their assertions, once")

        def import_torch() -> None:
            install.torch()
            run(PY, "-c", "import torch", check=False, **quiet)

        torch_import = ThreadPoolExecutor(1).submit(import_torch)
    # Bytecode once, before the workers start: otherwise the workers, which start together, each compile the
    # pack (about 4 CPU-seconds per worker). In one process per core.
    run(PY, "-m", "compileall", "-q", "-j", "0", "nodes", "tests", **quiet)
    if warm_up:
        run(PY, "-c", COLLECT_WITHOUT_TORCH, check=False, **quiet)
        torch_import.result()
    install.finish()
    chosen = any(a.startswith(("-n", "--numprocesses", "--dist")) or a == "no:xdist" for a in args)
    workers = () if chosen else PYTEST_WORKERS
    say(f"pytest {' '.join(workers)}".rstrip())
    code = run(PY, "-m", "pytest", *workers, *args, cwd=ROOT, check=False, env=env)
    if code == NO_TESTS_COLLECTED:
        say("pytest collected no tests: nothing was checked (exit code 5)")
    if web is not None:
        report, _ = web.communicate()
        say(f"web tests (node --test): {'passed' if web.returncode == 0 else 'FAILED'}")
        sys.stdout.buffer.write(report)
        sys.stdout.flush()
        code = code or web.returncode
    return code


def cmd_demo(args: list[str]) -> int:
    ensure_env("").finish()
    return run(BIN / "fal-avatar", "demo", *args, check=False)


def main() -> int:
    commands = {"test": cmd_test, "demo": cmd_demo}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print(__doc__)
        return 2
    # Bytecode is written once and reused by every later step and run (__pycache__ is git-ignored): with
    # PYTHONDONTWRITEBYTECODE set, each pip call compiled pip again, and each test worker the pack.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    try:
        return commands[sys.argv[1]](sys.argv[2:])
    except subprocess.CalledProcessError as exc:
        return exc.returncode or 1


if __name__ == "__main__":
    sys.exit(main())
