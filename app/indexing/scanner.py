"""Walk library folders and plan the changes against the database (pure, unit-tested).

Mark-and-sweep as rclip does: files whose (size, mtime_ns) match are untouched; new and changed
files are queued; vanished files are swept after the pass unless their bytes reappeared elsewhere
(a move, which keeps every embedding and hash).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path

from app.core.models import Photo, PhotoState
from app.imaging.formats import is_photo_name


@dataclass(frozen=True, slots=True)
class DiskFile:
    path: str
    size: int
    mtime_ns: int
    folder_id: int


@dataclass(slots=True)
class IndexPlan:
    new: list[DiskFile] = field(default_factory=list)
    changed: list[tuple[Photo, DiskFile]] = field(default_factory=list)
    redo: list[Photo] = field(default_factory=list)  # pending (interrupted run) or embedded with another model
    missing: list[Photo] = field(default_factory=list)
    unchanged: int = 0

    @property
    def scanned(self) -> int:
        return len(self.new) + len(self.changed) + len(self.redo) + self.unchanged


def walk_folder(
    root: Path,
    folder_id: int,
    excludes: Iterable[str] = (),
    extra_extensions: frozenset[str] = frozenset(),
    patterns: Iterable[str] = (),
    base: str | None = None,
) -> Iterator[DiskFile]:
    """Photos under ``root``: hidden and excluded names skipped, symlinked folders not followed.

    ``excludes`` are exact names (library-wide); ``patterns`` are one library folder's glob patterns
    (see :func:`matches_patterns`), matched against paths relative to ``base`` (default ``root``).
    """
    skip = set(excludes)
    globs = tuple(p for p in patterns if p)
    top = str(root)
    start = os.path.relpath(top, base) if base else "."
    stack = [(top, "" if start == "." else start.replace(os.sep, "/"))]
    while stack:
        current, rel = stack.pop()
        try:
            entries = list(os.scandir(current))
        except OSError:
            continue  # unreadable folder: its photos are neither added nor removed
        for entry in entries:
            name = entry.name
            if name.startswith(".") or name in skip:
                continue
            child = f"{rel}/{name}" if rel else name
            if globs and matches_patterns(child, globs):
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append((entry.path, child))
                elif entry.is_file() and is_photo_name(name, extra_extensions):
                    st = entry.stat()
                    yield DiskFile(os.path.abspath(entry.path), st.st_size, st.st_mtime_ns, folder_id)
            except OSError:
                continue


def matches_patterns(rel: str, patterns: Iterable[str]) -> bool:
    """Whether a path relative to its library folder (``/``-separated) is excluded by a glob pattern.

    As in ``.gitignore``: a pattern without ``/`` matches a file or folder name at any depth
    (``*.tmp``, ``Screenshots``, ``IMG_*_edited.jpg``); one with ``/`` matches the relative path
    from the folder (``2019/drafts``, ``raw/*``). A matching folder excludes everything under it.
    """
    parts = rel.split("/")
    for raw in patterns:
        pat = raw.strip().strip("/")
        if not pat:
            continue
        if "/" in pat:
            depth = pat.count("/") + 1
            if any(fnmatch("/".join(parts[:n]), pat) for n in range(depth, len(parts) + 1)):
                return True
        elif any(fnmatch(part, pat) for part in parts):
            return True
    return False


def plan_changes(disk: Iterable[DiskFile], known: Iterable[Photo], clip_model: str | None) -> IndexPlan:
    """Compare what is on disk with what the database knows.

    Args:
        disk: the files found under the scanned folders.
        known: the database's photos under the same folders.
        clip_model: the current embedding model id, or None when semantic features are off
            (then a missing embedding is not a reason to redo a photo).
    """
    plan = IndexPlan()
    by_path = {p.path: p for p in known}
    for f in disk:
        photo = by_path.pop(f.path, None)
        if photo is None:
            plan.new.append(f)
        elif photo.size != f.size or photo.mtime_ns != f.mtime_ns:
            plan.changed.append((photo, f))
        elif photo.state == PhotoState.PENDING or (
            photo.state == PhotoState.INDEXED and clip_model is not None and photo.clip_model != clip_model
        ):
            plan.redo.append(photo)
        else:
            plan.unchanged += 1  # indexed, or failed with the same bytes: never retried in a loop
    plan.missing = list(by_path.values())
    return plan
