"""Who holds an outbox claim on journal rows. An owner's name says which process on which machine holds it,
so a claim left by a process that died on this machine (killed mid-write, a crash) is taken over at once;
a claim from another machine, or from a process still alive, waits for its lease to lapse."""

from __future__ import annotations

import hashlib
import os
import socket
import uuid
from pathlib import Path


def this_host() -> str:
    """This machine, in 8 characters (the journal keeps a claim's owner in 32)."""
    return hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]


def new_owner() -> str:
    """A name for one outbox: this machine, this process, and a random part (two outboxes in one process)."""
    return f"{this_host()}/{os.getpid()}/{uuid.uuid4().hex[:12]}"


def died_here(owner: str) -> bool:
    """Whether `owner` was an outbox of a process on this machine that is no longer running."""
    host, _, rest = owner.partition("/")
    pid_text, _, _ = rest.partition("/")
    if host != this_host() or not pid_text.isdigit():
        return False  # another machine's, or a name from before owners said where they ran
    pid = int(pid_text)
    return pid != os.getpid() and not _running(pid)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    stat = Path(f"/proc/{pid}/stat")
    try:  # a killed process its parent has not reaped yet is a zombie: it runs nothing
        state = stat.read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")
