"""The Prefect server on PostgreSQL: scripts/prefect_postgres.sh starts Debian's PostgreSQL 15, a Prefect server
uses it, and `confcast publish` runs a real flow against that server. Missing PostgreSQL binaries fail, never skip.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from child_env import child_env
from prefect_server import free_port, wait_healthy

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "prefect_postgres.sh"
BIN = Path(sys.executable).parent
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))


@dataclass(frozen=True)
class Postgres:
    folder: Path
    port: int
    url: str  # postgresql+asyncpg://... as the script prints it


def postgres_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)


def postgres_pids(folder: Path) -> list[str]:
    """Processes still running on the data folder (none must be left after the test)."""
    result = subprocess.run(["pgrep", "-f", "--", f"-D {folder}/data"], capture_output=True, text=True)
    return result.stdout.split()


@pytest.fixture
def postgres() -> Iterator[Postgres]:
    missing = [name for name in ("initdb", "pg_ctl", "postgres", "psql") if not (PG_BIN / name).is_file()]
    if missing:
        pytest.fail(f"PostgreSQL 15 is not installed: {', '.join(str(PG_BIN / name) for name in missing)} missing; "
                    "run scripts/install.sh --test (apt-get install postgresql-15)", pytrace=False)
    # Not under pytest's tmp_path: /tmp/pytest-of-root is private to root, and as root the server runs as `postgres`.
    folder = Path(tempfile.mkdtemp(prefix="confcast-postgres-"))
    port = free_port()
    try:
        started = postgres_script("start", str(folder), str(port))
        assert started.returncode == 0, f"prefect_postgres.sh start failed: {started.stderr}"
        url = started.stdout.strip().splitlines()[-1]
        assert url.startswith("postgresql+asyncpg://prefect:") and url.endswith(f"@127.0.0.1:{port}/prefect"), url
        again = postgres_script("start", str(folder))  # idempotent: says so, prints the same URL
        assert again.returncode == 0 and "already running" in again.stderr, again.stderr
        assert again.stdout.strip() == url
        assert postgres_pids(folder), "no PostgreSQL process found on the data folder"
        yield Postgres(folder, port, url)
    finally:
        stopped = postgres_script("stop", str(folder))
        leftovers = postgres_pids(folder)
        shutil.rmtree(folder, ignore_errors=True)
        assert stopped.returncode == 0, f"prefect_postgres.sh stop failed: {stopped.stderr}"
        assert not leftovers, f"PostgreSQL processes left running: {leftovers}"


@pytest.fixture
def prefect_on_postgres(postgres: Postgres, tmp_path: Path) -> Iterator[str]:
    """A Prefect server of its own (not the session's SQLite one) whose database is `postgres`."""
    home = tmp_path / "prefect-server-home"
    home.mkdir()
    port = free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_API_DATABASE_CONNECTION_URL": postgres.url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_UI_ENABLED": "false",
    }
    env.pop("PREFECT_API_URL", None)
    log = home / "server.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
    try:
        wait_healthy(api_url, process, log)
        yield api_url
        assert not (home / "prefect.db").exists(), "the server made a SQLite database instead of using PostgreSQL"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        assert not group_alive(process.pid), "the Prefect server left processes running"


def group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


async def flow_runs(url: str) -> list[tuple[str, str]]:
    import asyncpg

    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        rows = await connection.fetch(
            "SELECT flow.name, flow_run.state_type::text FROM flow_run JOIN flow ON flow.id = flow_run.flow_id"
        )
    finally:
        await connection.close()
    return [(row[0], row[1]) for row in rows]


@pytest.mark.slow
def test_publish_on_a_prefect_server_backed_by_postgresql(
    postgres: Postgres, prefect_on_postgres: str, short_sample, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    env = child_env()
    env.update(
        PREFECT_API_URL=prefect_on_postgres,
        PREFECT_HOME=str(tmp_path / "prefect-client-home"),
        CONFCAST_WORK_DIR=str(tmp_path / "work"),
    )
    result = subprocess.run(
        [str(BIN / "confcast"), "publish", str(short_sample.path), "--title", "Matériel libre", "--date",
         "2026-02-06", "--language", "fr", "--to", site.as_uri()],
        capture_output=True, text=True, env=env, timeout=300, stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    page = site / "conferences" / "2026-02-06-materiel-libre" / "index.html"
    assert result.stdout.strip().splitlines()[-1] == page.as_uri()
    assert page.is_file()

    runs = asyncio.run(flow_runs(postgres.url))
    assert ("publish-conference", "COMPLETED") in runs, runs
