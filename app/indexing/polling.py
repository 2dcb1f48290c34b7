"""Roots where file-system events do not arrive: how to tell, and the cheap size+mtime poll instead.

inotify (and FSEvents, ReadDirectoryChangesW) only see changes made through the local kernel: a
photo added to an NFS or SMB share from another machine, or to a FUSE mount (sshfs, rclone, gvfs),
never produces an event here. Those roots are polled: one ``scandir`` walk with a ``stat`` per photo,
diffed against the previous walk in memory (no database, no file contents).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from app.indexing.scanner import walk_folder

# File-system types whose changes can come from elsewhere (the network, a user-space daemon).
POLLED_FS_TYPES = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smbfs",
        "smb3",
        "ncpfs",
        "afs",
        "9p",
        "virtiofs",
        "vboxsf",
        "vmhgfs",
        "davfs",
        "ceph",
        "glusterfs",
        "lustre",
        "gpfs",
        "sshfs",
        "fuse",
    }
)

Snapshot = dict[str, tuple[int, int]]  # path -> (size, mtime_ns)


def _unescape(field: str) -> str:
    r"""/proc/mounts writes space, tab, newline and backslash in paths as octal (\040 ...)."""
    return field.encode().decode("unicode_escape") if "\\" in field else field


def read_mounts(text: str | None = None) -> list[tuple[str, str]]:
    """(mount point, file-system type) from ``/proc/mounts`` (empty where there is none: macOS, Windows)."""
    if text is None:
        try:
            text = Path("/proc/mounts").read_text()
        except OSError:
            return []
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 3:
            out.append((_unescape(parts[1]), parts[2]))
    return out


def filesystem_type(path: str, mounts: Iterable[tuple[str, str]] | None = None) -> str | None:
    """Type of the file system ``path`` lives on: the longest mount point above it (the last mounted wins)."""
    path = os.path.abspath(path)
    best, best_type = -1, None
    for point, fstype in read_mounts() if mounts is None else mounts:
        inside = path == point or path.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= best:
            best, best_type = len(point), fstype
    return best_type


def needs_polling(fstype: str | None) -> bool:
    """True for network and FUSE file systems (``fuse.sshfs``, ``fuse.rclone`` ...); ``fuseblk`` (a local
    NTFS/exFAT drive through ntfs-3g) is excluded: every change to it goes through this kernel."""
    if not fstype:
        return False
    return fstype in POLLED_FS_TYPES or fstype.startswith("fuse.")


@dataclass(slots=True)
class PollDiff:
    added: list[str]
    changed: list[str]
    removed: list[str]

    def __bool__(self) -> bool:
        return bool(self.added or self.changed or self.removed)


class RootPoller:
    """Diffs successive walks of one root; the first :meth:`poll` only takes the snapshot."""

    def __init__(self, root: str, excludes: Iterable[str] = (), extra_extensions: frozenset[str] = frozenset()):
        self.root, self.excludes, self.extra = root, tuple(excludes), extra_extensions
        self.snapshot: Snapshot | None = None
        self.last_seconds = 0.0

    def walk(self) -> Snapshot:
        return {f.path: (f.size, f.mtime_ns) for f in walk_folder(Path(self.root), 0, self.excludes, self.extra)}

    def poll(self) -> PollDiff:
        t0 = time.perf_counter()
        new = self.walk()
        old, self.snapshot = self.snapshot, new
        self.last_seconds = time.perf_counter() - t0
        if old is None:
            return PollDiff([], [], [])
        added = [p for p in new if p not in old]
        changed = [p for p, st in new.items() if p in old and old[p] != st]
        removed = [p for p in old if p not in new]
        return PollDiff(added, changed, removed)
