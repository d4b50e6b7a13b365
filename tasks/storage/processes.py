"""This machine and its processes, as owners of claims and leases: which machine a record was written on, and
whether the process that wrote it still runs (Linux /proc; plain functions and one dataclass)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Machine:
    """Where a process runs: host name, boot id (changes at each boot) and pid namespace (differs per container)."""

    host: str
    boot: str | None = None
    pidns: str | None = None

    @classmethod
    def current(cls) -> Machine:
        boot = pidns = None
        with contextlib.suppress(OSError):
            boot = Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip() or None
        with contextlib.suppress(OSError):
            pidns = os.readlink("/proc/self/ns/pid")
        return cls(socket.gethostname(), boot, pidns)


def process_start(pid: int) -> int | None:
    """When process `pid` started (clock ticks since boot, from /proc/<pid>/stat); None when there is no such
    process (or only its zombie); -1 when it runs but its start time cannot be read (no /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except FileNotFoundError:
        return None
    except OSError:
        stat = ""
    if stat:
        fields = stat.rsplit(")", 1)[-1].split()  # after "pid (comm)": the comm may hold spaces and parentheses
        if len(fields) > 19:
            return None if fields[0] in ("Z", "X") else int(fields[19])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return -1


def machine_id(machine: Machine) -> str | None:
    """A short stable digest of the boot and pid namespace: tells a record written on this very machine (since its
    last boot, in this container) without publishing its boot id. None when /proc does not tell."""
    if not machine.boot:
        return None
    return hashlib.sha256(f"{machine.boot}|{machine.pidns or ''}".encode()).hexdigest()[:16]
