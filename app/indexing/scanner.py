"""Walk library folders and plan the changes against the database (pure, unit-tested).

Mark-and-sweep as rclip does: files whose (size, mtime_ns) match are untouched; new and changed
files are queued; vanished files are swept after the pass unless their bytes reappeared elsewhere
(a move, which keeps every embedding and hash).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
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
    root: Path, folder_id: int, excludes: Iterable[str] = (), extra_extensions: frozenset[str] = frozenset()
) -> Iterator[DiskFile]:
    """Photos under ``root``: hidden and excluded names skipped, symlinked folders not followed."""
    skip = set(excludes)
    stack = [str(root)]
    while stack:
        current = stack.pop()
        try:
            entries = list(os.scandir(current))
        except OSError:
            continue  # unreadable folder: its photos are neither added nor removed
        for entry in entries:
            name = entry.name
            if name.startswith(".") or name in skip:
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif entry.is_file() and is_photo_name(name, extra_extensions):
                    st = entry.stat()
                    yield DiskFile(os.path.abspath(entry.path), st.st_size, st.st_mtime_ns, folder_id)
            except OSError:
                continue


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
