"""This process as a lease holder, and whether another holder has surely died.

A PID means something only inside one PID namespace of one boot of one machine: two containers
sharing a volume can have the same hostname and each a process 7, and a PID is reused once its
process is gone. So a lease names its holder by all of these, and a holder is taken for dead only
when it ran in this very namespace, of this very boot, and its PID now belongs to no process, to
a zombie or to a process started at another time. Anything else (another machine, another
container, a lease from an older version) waits until the lease expires.
"""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

from bot.models import Holder, Lease

_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def this_process() -> Holder:
    """A holder naming this process unambiguously (and this one Outbox, by a random part)."""
    host, pid = socket.gethostname(), os.getpid()
    boot_id, pid_ns, started = _boot_id(), _pid_namespace(), _start_time(pid)
    owner = f"{host}:{pid}:{uuid.uuid4().hex[:8]}"
    return Holder(owner, host, pid, boot_id, pid_ns, started)


def holder_is_gone(lease: Lease, me: Holder) -> bool:
    """Whether the holder of `lease` has certainly died, as far as `me` can tell."""
    held = lease.holder
    if None in (held.boot_id, held.pid_ns, me.boot_id, me.pid_ns):
        return False  # we cannot know where that PID lives
    if (held.boot_id, held.pid_ns) != (me.boot_id, me.pid_ns) or held.pid == me.pid:
        return False
    try:
        os.kill(held.pid, 0)
    except ProcessLookupError:
        return True  # no such process
    except PermissionError:
        pass  # alive, another user's: /proc may hide it (hidepid), so look no further
    state = _state(held.pid)
    if state is None:
        return False  # alive, but its details are hidden from us: wait for the lease
    if state in ("Z", "X"):
        return True  # killed, not yet reaped by its parent
    return held.started is not None and _start_time(held.pid) != held.started  # PID reused


def _boot_id() -> str | None:
    try:
        return _BOOT_ID.read_text(encoding="ascii").strip() or None
    except OSError:
        return None


def _pid_namespace() -> str | None:
    try:
        return os.readlink("/proc/self/ns/pid")  # e.g. "pid:[4026531836]"
    except OSError:
        return None


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/<pid>/stat after the command name (which may hold spaces and parentheses)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _state(pid: int) -> str | None:
    fields = _stat_fields(pid)
    return fields[0] if fields else None


def _start_time(pid: int) -> int | None:
    fields = _stat_fields(pid)
    try:
        return int(fields[19]) if fields else None  # field 22 of stat(5)
    except (IndexError, ValueError):
        return None
