"""A storage URL's password never leaks, end to end (docs/study.md §5), with a real PostgreSQL that checks it.

A throwaway server from the `pgserver` wheel's binaries (test extra; run as ``nobody`` under root, which
postgres refuses) with scram-sha-256 authentication on a free localhost port. `run` and `report` get the
URL through the CLI; their output, their errors and every byte they leave on disk (run folder, Ray's
experiment and session folders, the report) are searched for the password's random core.
"""

from __future__ import annotations

import gzip
import importlib.util
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import optuna
import psycopg2  # the test extra's driver for PostgreSQL
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from study.results.storage import STORAGE_ENV

SECRET = secrets.token_hex(12)  # the password's random core: any copy of the password holds it
PASSWORD = f"Pw-{SECRET}:@/%"  # URL-special characters: a URL carries it percent-encoded
DB_USER = "optuna"
DATABASE = "studies"
SERVER_USER = "nobody" if os.geteuid() == 0 else None  # postgres refuses root (CI runs tests as root)
START_TIMEOUT_S = 120
COPY = "site"  # <root>/site/{pgserver/pginstall, pgserver.libs}: the wheel's layout (RPATH $ORIGIN/../../../)


@dataclass(frozen=True)
class Postgres:
    """A running throwaway server: 127.0.0.1:<port>, superuser ``DB_USER`` with ``PASSWORD``."""

    port: int
    start_s: float  # initdb + start + CREATE DATABASE, wall seconds

    def url(self, database: str = DATABASE, port: int | None = None, password: str = "") -> str:
        """The SQLAlchemy URL Optuna takes, ``PASSWORD`` percent-encoded (or ``password`` as given)."""
        secret = password or quote(PASSWORD, safe="")
        return f"postgresql+psycopg2://{DB_USER}:{secret}@127.0.0.1:{port or self.port}/{database}"


def free_port() -> int:
    """A localhost TCP port nothing listens on (right now)."""
    with socket.create_server(("127.0.0.1", 0)) as sock:
        return sock.getsockname()[1]


def pg_install() -> Path:
    """The `pgserver` wheel's PostgreSQL tree (bin, lib, share), found without importing pgserver."""
    found = importlib.util.find_spec("pgserver")
    if found is None or found.origin is None:
        pytest.fail("PostgreSQL for this test comes from the `pgserver` wheel: pip install -e '.[test]'")
    return Path(found.origin).parent / "pginstall"


def pg(install: Path, root: Path, *args: str) -> subprocess.CompletedProcess:
    """Run one PostgreSQL program of ``install`` as the server account, in ``root``."""
    return subprocess.run(
        [str(install / "bin" / args[0]), *args[1:]],
        user=SERVER_USER,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_S,
    )


def usable_install(root: Path) -> Path:
    """The wheel's tree, or a copy inside ``root`` when the server account cannot reach it (a 0700 home)."""
    install = pg_install()
    try:
        if pg(install, root, "postgres", "--version").returncode == 0:
            return install
    except PermissionError:  # the account cannot reach the binaries
        pass
    site, copy = install.parents[1], root / COPY
    for part in ("bin", "lib", "share"):
        shutil.copytree(install / part, copy / "pgserver" / "pginstall" / part)
    if (site / "pgserver.libs").is_dir():  # the shared libraries auditwheel moved out of the tree
        shutil.copytree(site / "pgserver.libs", copy / "pgserver.libs")
    own(copy)
    return copy / "pgserver" / "pginstall"


def own(path: Path) -> None:
    """Hand ``path`` (recursively) to the server account when we are root."""
    if SERVER_USER is not None:
        entry = pwd.getpwnam(SERVER_USER)
        for item in (path, *path.rglob("*")):
            os.chown(item, entry.pw_uid, entry.pw_gid, follow_symlinks=False)


def check(result: subprocess.CompletedProcess, what: str, log: Path) -> None:
    """Fail the test (never skip: CI must run it) with the program's own words and the server log."""
    if result.returncode != 0:
        pytest.fail(
            f"PostgreSQL {what} failed ({result.returncode}): {result.stdout[-1000:]}{result.stderr[-2000:]}"
            f"\n{log.read_text()[-2000:] if log.exists() else ''}"
        )


def start_postgres(root: Path) -> Postgres:
    """initdb (scram-sha-256 everywhere), start on a free port, create ``DATABASE``."""
    began = time.monotonic()
    (root / "pw").write_text(PASSWORD + "\n")
    own(root)
    install, data, log, port = usable_install(root), root / "data", root / "server.log", free_port()
    check(
        pg(
            install,
            root,
            "initdb",
            "-D",
            str(data),
            "-U",
            DB_USER,
            f"--pwfile={root / 'pw'}",
            "--auth=scram-sha-256",
            "--encoding=UTF8",
            "--no-sync",
        ),
        "initdb",
        log,
    )
    (root / "pw").unlink()
    options = f"-h 127.0.0.1 -p {port} -k {root} -c fsync=off"
    check(
        pg(
            install,
            root,
            "pg_ctl",
            "-D",
            str(data),
            "-l",
            str(log),
            "-w",
            "-t",
            str(START_TIMEOUT_S),
            "-o",
            options,
            "start",
        ),
        "start",
        log,
    )
    conn = psycopg2.connect(host="127.0.0.1", port=port, user=DB_USER, password=PASSWORD, dbname="postgres")
    conn.autocommit = True
    conn.cursor().execute(f"CREATE DATABASE {DATABASE}")
    conn.close()
    return Postgres(port, time.monotonic() - began)


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    """A throwaway PostgreSQL for this module, stopped and deleted at teardown."""
    root = Path(tempfile.mkdtemp(prefix="posediff-pg-"))
    try:
        yield start_postgres(root)
    finally:
        if (root / "data" / "postmaster.pid").exists():
            copy = root / COPY / "pgserver" / "pginstall"
            pg(
                copy if copy.exists() else pg_install(),
                root,
                "pg_ctl",
                "-D",
                str(root / "data"),
                "-m",
                "immediate",
                "stop",
            )
        shutil.rmtree(root, ignore_errors=True)


def views(path: Path) -> Iterator[bytes]:
    """The file's bytes, plus what compression could hide: Parquet values, zip members, gunzipped."""
    data = path.read_bytes()
    yield data
    if path.suffix == ".parquet":
        table = pq.read_table(path)
        yield repr(table.to_pylist()).encode() + repr(table.schema.metadata).encode()
    elif zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            yield from (archive.read(name) for name in archive.namelist())
    elif data[:2] == b"\x1f\x8b":
        yield gzip.decompress(data)


def leaks(folder: Path) -> list[str]:
    """Every file under ``folder`` (recursively, links not followed) whose bytes hold ``SECRET``."""
    needle, found = SECRET.encode(), []
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink() and not path.is_socket():
            if any(needle in view for view in views(path)):
                found.append(str(path.relative_to(folder)))
    return found


@dataclass(frozen=True)
class Shown:
    """One CLI command as the user saw it: exit code, output, wall time."""

    returncode: int
    text: str  # stdout then stderr
    stderr: str
    wall_s: float


def cli(args: tuple[str, ...], ray_tmp: Path, storage_env: str, timeout_s: float = 600) -> Shown:
    """`python -m study ARGS` (the console script's code path), Ray's temp folder at ``ray_tmp``, POSEDIFF_STORAGE set."""
    began = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "study", *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env={**os.environ, "RAY_TMPDIR": str(ray_tmp), STORAGE_ENV: storage_env},
    )
    return Shown(result.returncode, result.stdout + result.stderr, result.stderr, time.monotonic() - began)


def cli_together(commands: dict[str, tuple[str, ...]], ray_tmp: Path, storage_env: str) -> dict[str, Shown]:
    """Every command at once (separate processes; wall time on 2 cores), by name."""
    with ThreadPoolExecutor(len(commands)) as pool:
        futures = {name: pool.submit(cli, args, ray_tmp, storage_env) for name, args in commands.items()}
        return {name: future.result() for name, future in futures.items()}


@pytest.fixture(scope="module")
def ray_tmp() -> Iterator[Path]:
    """A short private RAY_TMPDIR (Ray's socket paths must stay under ~107 characters)."""
    folder = Path(tempfile.mkdtemp(prefix="pdray-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def cache() -> dict:
    """The commands run once per module (the fixture running them needs the function-scoped tiny_spec)."""
    return {}


def run_commands(postgres: Postgres, spec: Path, out: Path, ray_tmp: Path) -> dict[str, Shown]:
    """A 2-trial study with --quiet next to a run on a missing database; then the same command without
    --quiet (live view; the study is finished: it only reports it) next to the report, these two
    taking the URL from POSEDIFF_STORAGE (a --storage flag would override it)."""
    run, url = ("run", "--space", str(spec), "--out"), postgres.url()
    first = cli_together(
        {
            "run --quiet": (*run, str(out / "run"), "--storage", url, "--quiet"),
            "run, missing database": (
                *run,
                str(out / "run_error"),
                "--storage",
                postgres.url(database="no_such_db"),
                "--quiet",
            ),
        },
        ray_tmp,
        url,
    )
    assert first["run --quiet"].returncode == 0, first["run --quiet"].text[-3000:]
    then = cli_together(
        {"run": (*run, str(out / "run")), "report": ("report", str(out / "run"), "--out", str(out / "report"))},
        ray_tmp,
        url,
    )
    return {**first, **then}


@pytest.fixture
def shown(postgres: Postgres, tiny_spec, tmp_path: Path, ray_tmp: Path, cache: dict) -> dict[str, Shown]:
    """The module's CLI commands (run by the first test that asks); their folders under ``cache["out"]``."""
    if "shown" not in cache:
        spec = tiny_spec(name="secret_e2e", budget={"num_trials": 2, "max_epochs": 2})
        cache["out"], cache["shown"] = tmp_path, run_commands(postgres, spec, tmp_path, ray_tmp)
        walls = ", ".join(f"{name} {s.wall_s:.1f} s" for name, s in cache["shown"].items())
        print(f"PostgreSQL ready in {postgres.start_s:.1f} s; {walls}")
    return cache["shown"]


def test_the_scanner_finds_a_planted_password(tmp_path: Path) -> None:
    # The search below can fail: a password in plain text, inside a compressed Parquet column, in a zip.
    pq.write_table(pa.table({"url": [f"x{PASSWORD}" * 3]}), tmp_path / "t.parquet", compression="zstd")
    with zipfile.ZipFile(tmp_path / "a.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("inner", PASSWORD * 4)
    (tmp_path / "deep").mkdir()
    (tmp_path / "deep" / "log.txt").write_text(f"url={quote(PASSWORD, safe='')}")
    (tmp_path / "clean.txt").write_text("postgresql+psycopg2://optuna:***@127.0.0.1:5432/studies")
    assert leaks(tmp_path) == ["a.zip", "deep/log.txt", "t.parquet"]


def test_the_server_really_checks_the_password(postgres: Postgres) -> None:
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        psycopg2.connect(host="127.0.0.1", port=postgres.port, user=DB_USER, password="not-it", dbname=DATABASE)
    psycopg2.connect(host="127.0.0.1", port=postgres.port, user=DB_USER, password=PASSWORD, dbname=DATABASE).close()


@pytest.mark.slow
def test_no_output_shows_the_password(shown: dict[str, Shown], postgres: Postgres) -> None:
    for name, result in shown.items():
        assert SECRET not in result.text, f"{name} printed the password:\n{result.text}"
    for name in ("run --quiet", "run"):
        assert shown[name].returncode == 0 and f"optuna-dashboard {postgres.url(password='***')}" in shown[name].stderr
    assert shown["run --quiet"].stderr.count(" started | ") == 2  # the quiet log really ran the study
    assert shown["report"].returncode == 0 and "Parameter importances" in shown["report"].text


@pytest.mark.slow
def test_the_study_really_lives_in_postgres(shown: dict[str, Shown], postgres: Postgres, cache: dict) -> None:
    trials = optuna.load_study(study_name="secret_e2e", storage=postgres.url()).get_trials()
    assert len(trials) == 2 and all(t.state.is_finished() for t in trials)
    assert not (cache["out"] / "run" / "optuna.journal").exists()
    assert "secret_e2e" in (cache["out"] / "report" / "importances.csv").read_text()  # read from PostgreSQL


@pytest.mark.slow
def test_no_file_holds_the_password(shown: dict[str, Shown], ray_tmp: Path, cache: dict) -> None:
    run_dir = cache["out"] / "run"
    written = [
        run_dir / "trials.parquet",
        run_dir / "epochs.parquet",
        run_dir / "spec.resolved.yaml",
        cache["out"] / "report" / "report.md",
    ]
    assert all(path.is_file() for path in written) and len(list(run_dir.rglob("result.json"))) == 2
    assert list(run_dir.rglob("experiment_state-*.json")) and list(run_dir.rglob("tuner.pkl"))
    assert list(ray_tmp.glob("ray/session_*/logs/*"))
    assert leaks(ray_tmp) == [] and leaks(cache["out"]) == []  # Ray's session logs; results, Ray's tuner.pkl, report


@pytest.mark.slow
def test_a_run_on_a_missing_database_fails_in_one_line(shown: dict[str, Shown]) -> None:
    run = shown["run, missing database"]
    assert run.returncode == 2 and len(run.stderr.strip().splitlines()) == 1
    assert run.stderr.startswith("error: ") and "no_such_db" in run.stderr
