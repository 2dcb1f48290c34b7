"""The duplicates view's model: one row per group of the chosen tier, what the user marked for the trash,
and which copy each group keeps.

One row per group in a ``QListView`` with uniform rows: Qt lays out 10,000 groups by arithmetic and asks
only the visible rows for data, so no paging is needed. Decisions (marks, keeper changes) are kept by
path and survive a re-computation of the groups.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt, QTimer, Signal, Slot

from app.core.dupes import DupeGroup, DupePair, DupePhoto, DupeTier
from app.core.gallery import GalleryItem
from app.ui.thumbnails import ThumbnailLoader

ROW_ROLE = Qt.ItemDataRole.UserRole + 20
TIERS = (DupeTier.IDENTICAL, DupeTier.SAME, DupeTier.SIMILAR)

_Index = QModelIndex | QPersistentModelIndex


@dataclass(slots=True)
class GroupRow:
    group: DupeGroup
    keeper: str | None  # path; None in the similar tier (nothing is suggested there)
    why: dict[str, str] = field(default_factory=dict)  # path -> evidence against the keeper, in short

    @property
    def photos(self) -> list[DupePhoto]:
        return self.group.photos


def short_why(pair: DupePair) -> str:
    """The evidence for a pair in two short lines: the hash match, then the pixel/geometry checks."""
    if pair.tier == DupeTier.IDENTICAL:
        return "identical bytes"
    first = ""
    if pair.distance is not None:
        how = "" if pair.transform in (None, "phash") else f" as {pair.transform.removeprefix('phash_')}"
        first = f"pHash {pair.distance} bits{how}"
    elif pair.transform:  # a turned copy, found by visual words
        first = pair.transform
    checks = []
    if pair.correlation is not None:
        checks.append(f"corr {pair.correlation:.2f}")
    if pair.inliers:
        checks.append(f"{pair.inliers} inliers")
    if pair.cosine is not None:
        checks.append(f"cos {pair.cosine:.2f}")
    return "\n".join(x for x in (first, " · ".join(checks)) if x) or pair.reason


def _why(group: DupeGroup, keeper: str | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for p in group.photos:
        if p.path == keeper:
            continue
        direct = [pr for pr in group.pairs if {pr.a, pr.b} == {p.path, keeper}]
        via = direct or [pr for pr in group.pairs if p.path in (pr.a, pr.b)]
        if via:
            other = via[0].b if via[0].a == p.path else via[0].a
            note = "" if direct or keeper is None else f" to {PurePath(other).name}"
            out[p.path] = short_why(via[0]) + note
    return out


class DupesModel(QAbstractListModel):
    """Groups of one tier; ``marked`` paths go to the trash on "Trash marked"."""

    repaint_needed = Signal()
    marks_changed = Signal(int)  # how many photos are marked

    def __init__(self, loader: ThumbnailLoader, thumbnail_path: Callable[[str], str], parent: Any = None) -> None:
        super().__init__(parent)
        self._loader, self._thumbnail_path = loader, thumbnail_path
        self._all: list[DupeGroup] = []
        self._rows: list[GroupRow] = []
        self.tier = DupeTier.IDENTICAL
        self.items: dict[int, GalleryItem] = {}
        self.marked: set[str] = set()
        self._keepers: dict[frozenset[str], str] = {}  # the user's choice, by the group's members
        self._flush = QTimer(self, singleShot=True, interval=30)
        self._flush.timeout.connect(self.repaint_needed)
        loader.loaded.connect(self._on_thumbnail)

    # Filling

    def set_groups(self, groups: Sequence[DupeGroup], items: dict[int, GalleryItem] | None = None) -> None:
        self._all = list(groups)
        if items is not None:
            self.items = items
        present = {p.path for g in self._all for p in g.photos}
        self.marked &= present
        self._rebuild()

    def set_tier(self, tier: DupeTier | str) -> None:
        self.tier = DupeTier(tier)
        self._rebuild()

    def _rebuild(self) -> None:
        self.beginResetModel()
        self._rows = [self._row(g) for g in self._all if g.tier == self.tier]
        self.endResetModel()
        self.marks_changed.emit(len(self.marked))

    def _row(self, g: DupeGroup) -> GroupRow:
        keeper = None
        if g.tier != DupeTier.SIMILAR:
            members = frozenset(p.path for p in g.photos)
            chosen = self._keepers.get(members)
            keeper = chosen if chosen in members else (g.keeper.path if g.keeper else None)
        return GroupRow(g, keeper, _why(g, keeper))

    def counts(self) -> dict[DupeTier, int]:
        out = dict.fromkeys(TIERS, 0)
        for g in self._all:
            out[DupeTier(g.tier)] += 1
        return out

    # Qt model

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        if role == ROW_ROLE:
            return self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self._rows[index.row()].group.reason
        return None

    def row(self, r: int) -> GroupRow | None:
        return self._rows[r] if 0 <= r < len(self._rows) else None

    def thumbnail(self, photo: DupePhoto) -> Any:
        item = self.items.get(photo.photo_id)
        digest = item.content_hash if item is not None and item.content_hash else ""
        thumb = self._thumbnail_path(digest) if digest else ""
        return self._loader.pixmap((photo.photo_id, digest), (thumb, photo.path))

    @Slot(int)
    def _on_thumbnail(self, _photo_id: int) -> None:
        if not self._flush.isActive():
            self._flush.start()

    # Decisions

    def toggle(self, r: int, i: int) -> str:
        """Mark or unmark photo ``i`` of group ``r`` for the trash; returns why not, if it cannot be."""
        row = self.row(r)
        if row is None or not 0 <= i < len(row.photos):
            return ""
        photo = row.photos[i]
        if photo.path == row.keeper:
            return "The kept copy cannot be trashed: right-click another photo → “Keep this one instead”"
        if photo.protected:
            return f"{PurePath(photo.path).name} is in a protected folder: it is never trashed"
        self.marked.symmetric_difference_update({photo.path})
        self.repaint_needed.emit()
        self.marks_changed.emit(len(self.marked))
        return ""

    def keep_instead(self, r: int, i: int) -> None:
        row = self.row(r)
        if row is None or row.keeper is None or not 0 <= i < len(row.photos):
            return
        path = row.photos[i].path
        self._keepers[frozenset(p.path for p in row.photos)] = path
        self.marked.discard(path)
        self._rows[r] = self._row(row.group)
        self.repaint_needed.emit()
        self.marks_changed.emit(len(self.marked))

    def suggested_trash(self) -> tuple[list[str], int]:
        """Every copy but the keeper in this tier's groups (never ``similar``), protected ones left out.

        Returns the paths and how many groups they come from.
        """
        if self.tier == DupeTier.SIMILAR:
            return [], 0
        paths, groups = [], 0
        for row in self._rows:
            extra = [p.path for p in row.photos if p.path != row.keeper and not p.protected]
            if extra:
                paths += extra
                groups += 1
        return paths, groups

    def marked_paths(self) -> list[str]:
        order = [p.path for g in self._all for p in g.photos]
        return [p for p in order if p in self.marked]

    def clear_marks(self) -> None:
        self.marked.clear()
        self.repaint_needed.emit()
        self.marks_changed.emit(0)
