"""Sessions: `nox -l` lists them. Every session installs the pinned versions in constraints.txt; the
sessions that run the network share one environment (``SHARED_ENV``)."""

from __future__ import annotations

import hashlib
import platform
import shutil
import sys
import tomllib
from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.sessions = ["tests", "lint"]
nox.options.reuse_venv = "yes"

CONSTRAINTS = ("-c", "constraints.txt")

SHARED_ENV = Path(".nox/shared")
"""The one environment (torch, the project editable, the test extras, the evaluator oracles and the network
runtimes) that every session running the network shares: it is built once (about 1.7 GB), not once per
session."""

SHARED_EXTRAS = "test,oracles,runtimes"

WRITE_IMPORTED_BYTECODE = (
    "import sys; sys.dont_write_bytecode = False; import pytest; "
    "raise SystemExit(pytest.main(['--collect-only', '-q', '-p', 'no:cacheprovider']))")
"""Collect the tests with bytecode writing on (whatever PYTHONDONTWRITEBYTECODE says): every module the
tests import is compiled once, before the workers start."""


def shared_python(session: nox.Session) -> str:
    """The Python of the shared environment, created and brought up to date with the pinned versions
    when ``constraints.txt`` or ``pyproject.toml`` changed since it was last installed (pip's
    progress shown), also under ``--install-only``. Installed without pip's byte-compilation of every
    file (11,666 files, about 75 s on 2 cores, most never imported): modules are compiled as they are
    imported."""
    return environment_python(session, SHARED_ENV, ("-e", f".[{SHARED_EXTRAS}]"))


def environment_python(session: nox.Session, env: Path, requirements: tuple[str, ...]) -> str:
    """The Python of the environment ``env``, created and brought up to date (``shared_python``) with
    ``requirements`` (pip install arguments) when they, ``constraints.txt`` or ``pyproject.toml`` changed
    since it was last installed."""
    python = env / "bin" / "python"
    stamp = env / "installed.sha256"
    inputs = b"".join(Path(name).read_bytes() for name in ("constraints.txt", "pyproject.toml"))
    wanted = hashlib.sha256(inputs + " ".join(requirements).encode()).hexdigest()
    if not python.exists():
        session.run_install(sys.executable, "-m", "venv", str(env), external=True)
    if not stamp.exists() or stamp.read_text() != wanted:
        session.log(f"installing the environment {env} (torch: a few minutes the first time)")
        session.run_install(str(python), "-m", "pip", "install", "--no-compile", "--progress-bar", "on",
                            *CONSTRAINTS, *requirements, external=True, silent=False)
        stamp.write_text(wanted)
    return str(python)


@nox.session(python=False)
def tests(session: nox.Session) -> None:
    """Unit and integration tests, offline, one worker per core (posargs go to pytest; `-- -n 0`: serial).

    On the bundled sample and generated data, with the evaluator oracles installed; test files are kept
    whole on a worker (module fixtures are built once), with one thread per worker.

    Bytecode is written only for the modules the tests import (a collection run), not for every file
    of every package: on a fresh 2-core machine that takes 22 s where pip's compilation takes 75 s.

    The tests marked ``runtime_libraries`` run in processes of their own, after the others: once ONNX
    Runtime's and OpenVINO's thread pools are in a process, a later fork of it (the DataLoader's
    image-reading workers in other files' tests) was seen to crash it with a segmentation fault.
    Exit status 5 (no test selected, e.g. by ``-k``) is not a failure of either part."""
    python = shared_python(session)
    session.run(python, "-c", WRITE_IMPORTED_BYTECODE, silent=True, external=True)
    for selection in ("not runtime_libraries", "runtime_libraries"):
        session.run(python, "-m", "pytest", "-n", "auto", "--dist", "loadfile", "-m", selection,
                    *session.posargs, env={"OMP_NUM_THREADS": "1"}, success_codes=[0, 5], external=True)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over the whole tree, and the architecture contracts of pyproject.toml (import-linter)."""
    session.install(*CONSTRAINTS, "--no-compile", "ruff", "import-linter")
    session.run("ruff", "check", ".")
    session.run("lint-imports")


@nox.session(python=False, default=False)
def reproduce(session: nox.Session) -> None:
    """Main job: rerun the published CrowdPose rows, write a report, then gate it with the suites.

    Posargs go to `python -m bench reproduce` (e.g. `-- --data-root D --checkpoint PATH --strict`).
    """
    python = shared_python(session)
    out = Path(_option(session.posargs, "--out", "runs"))
    before = set(out.glob("reproduce-*.json"))
    session.run(python, "-m", "bench", "reproduce", *session.posargs, success_codes=[0, 1], external=True)
    written = sorted(set(out.glob("reproduce-*.json")) - before, key=lambda path: path.stat().st_mtime)
    if not written:
        session.error(f"bench reproduce wrote no report into {out}")
    gate = ["--gate"] if "--strict" in session.posargs else []
    session.run(python, "-m", "pytest", "suites", f"--report={written[-1]}",
                "--junitxml=build/junit-reproduce.xml", "-p", "no:cacheprovider", "-q", *gate, external=True)


@nox.session(python=False, default=False)
def gate(session: nox.Session) -> None:
    """`bench gate`: rerun a stratified subset of a golden's images on this machine and compare them.

    Posargs go to `python -m bench gate` (e.g. `-- --golden golden.npz --subset 200 --data-root D
    --device cpu`; `-- --power` or `-- --coverage` for the gate's own statistics). The golden comes from
    a full run: `python -m bench golden record REPORT --out golden.npz` (README, "Gating pull requests")."""
    session.run(shared_python(session), "-m", "bench", "gate", *session.posargs, external=True)


@nox.session(python=False, default=False)
def sweep(session: nox.Session) -> None:
    """The bundled post-processing sweep: one forward, every variant decoded from it, a row each.

    The sweep is bench/accuracy/semantics.toml; posargs go to `bench reproduce` (e.g. `-- --data-root D`)."""
    sweep_file = "bench/accuracy/semantics.toml"
    session.run(shared_python(session), "-m", "bench", "reproduce", "--sweep", sweep_file, *session.posargs,
                external=True)


@nox.session(python=False, default=False)
def suites(session: nox.Session) -> None:
    """The reproduction suites alone, rerun from scratch (posargs go to pytest: `-- --data-root D --gate`)."""
    session.run(shared_python(session), "-m", "pytest", "suites", "--junitxml=build/junit-suites.xml",
                *session.posargs, external=True)


@nox.session(python=False, default=False)
def profile(session: nox.Session) -> None:
    """Per-stage latency profile on this machine (posargs go to `bench profile`)."""
    session.run(shared_python(session), "-m", "bench", "profile", *session.posargs, external=True)


DEVICE_ENV = Path(".nox/device")
"""The environment of `nox -s device` on a CUDA machine: the shared one's packages, but ONNX Runtime's CUDA
build in place of its CPU build, and TensorRT's libraries (``bench.runtimes.names.CUDA_BUILDS`` says why
the two builds cannot share one environment)."""


@nox.session(python=False, default=False)
def device(session: nox.Session) -> None:
    """`bench device-check` on a CUDA machine, about 6 minutes (posargs: `-- --quick --out DIR`).

    Runs the gpu tests, the profile matrix with the GPU runtimes (TensorRT, ONNX Runtime CUDA), the poses
    against the CPU and torchrun. torch is the pinned version from pip, whose Linux wheel is the CUDA build
    (another CUDA build: set PIP_EXTRA_INDEX_URL). Where nvidia-smi is found the session runs in
    ``DEVICE_ENV`` (``device_requirements``), elsewhere in the shared one (a `--device cpu` dry run)."""
    if cuda_present():
        python = environment_python(session, DEVICE_ENV, device_requirements())
    else:
        python = shared_python(session)
    session.run(python, "-m", "bench", "device-check", *session.posargs, external=True)


def cuda_present() -> bool:
    """Whether this machine has an NVIDIA driver (its nvidia-smi on the PATH)."""
    return shutil.which("nvidia-smi") is not None


def device_requirements() -> tuple[str, ...]:
    """pip install arguments of ``DEVICE_ENV``: the project with the shared extras but the runtimes, and the
    runtimes' CUDA requirements (``bench.runtimes.names.cuda_runtime_requirements``, read from this checkout:
    plain values, importable without installing the project), TensorRT's from NVIDIA's index."""
    sys.path.insert(0, str(Path(__file__).parent))
    from bench.runtimes.names import TENSORRT_INDEX, cuda_runtime_requirements

    project = tomllib.loads(Path("pyproject.toml").read_text())["project"]
    extras = ",".join(extra for extra in SHARED_EXTRAS.split(",") if extra != "runtimes")
    runtimes = cuda_runtime_requirements(project["optional-dependencies"]["runtimes"])
    return ("--extra-index-url", TENSORRT_INDEX, "-e", f".[{extras}]", *runtimes)


@nox.session(default=False)
def compare(session: nox.Session) -> None:
    """Cross-hardware tables and the page from the committed reports and your runs, without torch.

    Posargs go to `bench compare`; without them: `results runs --out runs/compare --html runs/index.html`
    (nothing committed changes). compare reads reports only, so its environment has the project's
    dependencies except torch (seconds to install, not minutes)."""
    install_without_torch(session)
    default = ["results", *(["runs"] if Path("runs").is_dir() else []), "--out", "runs/compare",
               "--html", "runs/index.html"]
    session.run("python", "-m", "bench", "compare", *(session.posargs or default), success_codes=[0, 1])


@nox.session(default=False)
def publish(session: nox.Session) -> None:
    """Copy chosen reports into results/ and rebuild its tables and page (posargs: the report files)."""
    install_without_torch(session)
    session.run("python", "-m", "bench", "publish", *session.posargs)


def install_without_torch(session: nox.Session) -> None:
    """The project and its dependencies except torch, for the sessions that only read reports."""
    project = tomllib.loads(Path("pyproject.toml").read_text())["project"]
    light = [dependency for dependency in project["dependencies"] if not dependency.startswith("torch")]
    session.install(*CONSTRAINTS, "--no-compile", *light)
    session.install(*CONSTRAINTS, "--no-compile", "--no-deps", "-e", ".")


@nox.session(python=False, default=False)
def benchmark(session: nox.Session) -> None:
    """pytest-benchmark suites, stored per machine under .benchmarks/<machine>."""
    storage = f"file://.benchmarks/{platform.node() or 'machine'}"
    session.run(shared_python(session), "-m", "pytest", "benchmarks", f"--benchmark-storage={storage}",
                "--benchmark-autosave", *session.posargs, external=True)


MATRIX = Path("bench/matrix/environments.toml")
"""The declared environment matrix: per environment the versions that differ from constraints.txt."""


@nox.session(python=False, default=False)
@nox.parametrize("environment", [entry["name"] for entry in tomllib.loads(MATRIX.read_text())["environment"]])
def matrix(session: nox.Session, environment: str) -> None:
    """One environment of the matrix: the bundled sample (posargs: `-- --data-root D --subset N`,
    `-- --checkpoint PATH`) under its versions, then the table (`matrix_table`) once all have run.

    Its interpreter is the shared environment's with only the environment's pins installed on top (cached
    in .nox/matrix); an environment that cannot be installed or run gets a line saying why in the table."""
    session.notify("matrix_table", posargs=["--entries", _option(session.posargs, "--out", "runs/matrix")])
    session.run(shared_python(session), "-m", "bench", "matrix", "run", environment, *session.posargs,
                success_codes=[0, 1], external=True)


@nox.session(python=False, default=False)
def matrix_table(session: nox.Session) -> None:
    """The matrix table from the environments' entries: results/matrix.md and results/matrix.csv."""
    session.run(shared_python(session), "-m", "bench", "matrix", "table", *session.posargs, external=True)


def _option(args: list[str], name: str, default: str) -> str:
    """The value of ``name`` in ``args`` (``--name V`` or ``--name=V``), else ``default``."""
    for index, arg in enumerate(args):
        if arg == name and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith(f"{name}="):
            return arg.split("=", 1)[1]
    return default
