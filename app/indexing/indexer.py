"""One indexing run: scan → plan → fast pass → sweep → region pass → save the vector caches."""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from app.core.models import Folder, IndexStats, Photo, PhotoState
from app.core.progress import CancelToken, PhaseMeter, ProgressCallback
from app.imaging.formats import is_photo_name
from app.indexing.context import IndexContext
from app.indexing.fast_pass import MoveClaims, WorkItem, run_fast_pass
from app.indexing.region_pass import run_region_pass
from app.indexing.scanner import DiskFile, IndexPlan, matches_patterns, plan_changes, walk_folder
from app.storage.ocr_repo import OcrRepository
from app.storage.watch_repo import WatchRepository

log = logging.getLogger(__name__)


class Indexer:
    """Runs the passes for a set of library folders. Only the writer process may run one."""

    def __init__(self, ctx: IndexContext) -> None:
        self.ctx = ctx

    def scan(self, folders: Sequence[Folder], progress: ProgressCallback, cancel: CancelToken) -> IndexPlan:
        """Walk ``folders`` and compare with the database; a folder that is not there is left alone."""
        s = self.ctx.settings
        present = [f for f in folders if os.path.isdir(f.path)]
        for f in folders:
            if f not in present:
                self.ctx.stats.notes.append(f"folder not found, its photos are kept as they are: {f.path}")
        meter = PhaseMeter("scan", 0, progress, min_interval_s=0.25)  # total unknown until the walk ends
        disk: list[DiskFile] = []
        extra = frozenset(e.lower() for e in s.extra_extensions)
        for folder in present:
            for f in walk_folder(Path(folder.path), folder.id, s.excludes, extra, s.folder_patterns(folder.path)):
                disk.append(f)
                meter.advance(1, f.path)
                if len(disk) % 1000 == 0:
                    cancel.check()
        plan = plan_changes(disk, self.ctx.repo.photos_in_folders([f.id for f in present]), self.ctx.clip_model)
        meter.total = len(disk)
        meter.advance(0, force=True)
        return plan

    def scan_paths(self, folders: Sequence[Folder], files: Iterable[str], dirs: Iterable[str]) -> IndexPlan:
        """Plan for just these files and folder subtrees (what the watcher saw change) under ``folders``.

        A file or folder that is hidden, excluded or outside every folder is ignored; one that is gone
        from disk but known to the database lands in ``plan.missing``.
        """
        s, wrepo = self.ctx.settings, WatchRepository(self.ctx.repo.engine)
        extra = frozenset(e.lower() for e in s.extra_extensions)
        roots = sorted(folders, key=lambda f: len(f.path), reverse=True)
        disk: dict[str, DiskFile] = {}
        known: dict[str, Photo] = {}
        dirs = _outermost({d for d in dirs if _owner(roots, d) is not None})
        for d in dirs:
            folder = _owner(roots, d)
            assert folder is not None
            patterns = s.folder_patterns(folder.path)
            if not _excluded(folder.path, d, s.excludes, patterns) and os.path.isdir(d):
                for f in walk_folder(Path(d), folder.id, s.excludes, extra, patterns, base=folder.path):
                    disk[f.path] = f
            known.update((p.path, p) for p in wrepo.photos_under(d))
            known.update((p.path, p) for p in wrepo.photos_at([d]))  # a file path passed as a folder
        loose = [f for f in files if not _under_any(f, dirs)]
        for path in loose:
            folder = _owner(roots, path)
            if folder is None or _excluded(folder.path, path, s.excludes, s.folder_patterns(folder.path)):
                continue
            if not is_photo_name(os.path.basename(path), extra):
                continue
            try:
                st = os.stat(path)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                disk[path] = DiskFile(path, st.st_size, st.st_mtime_ns, folder.id)
        known.update((p.path, p) for p in wrepo.photos_at(loose))
        return plan_changes(disk.values(), known.values(), self.ctx.clip_model)

    def run(
        self, folders: Sequence[Folder], progress: ProgressCallback, cancel: CancelToken, regions: bool = True
    ) -> IndexStats:
        plan = self.scan(folders, progress, cancel)
        self.apply(plan, progress, cancel)
        if regions:
            self.region_pass(progress, cancel)
        if not cancel.is_cancelled and (self.ctx.regions_key or self.ctx.ocr_key):
            self.clean_spool()
        return self.finish(cancel)

    def apply(
        self,
        plan: IndexPlan,
        progress: ProgressCallback,
        cancel: CancelToken,
        move_hints: Mapping[str, str] | None = None,
    ) -> None:
        """Fast pass over what ``plan`` found new or changed, then sweep what vanished.

        A vanished photo whose file turns up elsewhere is a move and keeps everything: paired by the
        watcher's ``move_hints`` (destination -> source, files or folders) or by name, size and mtime
        without reading a byte, else by content hash during the fast pass.
        """
        ctx, stats = self.ctx, self.ctx.stats
        stats.scanned += plan.scanned
        stats.unchanged += plan.unchanged
        stats.new, stats.changed = stats.new + len(plan.new), stats.changed + len(plan.changed)
        if ctx.paths.spool.is_dir():  # left by an interrupted run: counts against the budget
            ctx.spool_bytes = sum(f.stat().st_size for f in ctx.paths.spool.iterdir() if f.is_file())
        if ctx.clip_model:
            ctx.vectors.get(ctx.clip_model)  # load (or rebuild) now so batches update it incrementally
        self._repoint_moves(plan, move_hints or {})
        items = self._work_items(plan)
        moves = MoveClaims(self._move_candidates(plan))
        if items:
            run_fast_pass(ctx, items, moves, progress, cancel)
        if not cancel.is_cancelled:
            gone = [p.id for p in plan.missing if p.id not in moves.claimed]
            if gone:
                ctx.vectors.apply(ctx.repo.delete_photos(gone))
                stats.removed += len(gone)

    def region_pass(self, progress: ProgressCallback, cancel: CancelToken, limit: int | None = None) -> int:
        """The background pass (regions and/or OCR) over (at most ``limit`` of) the photos waiting for it;
        returns how many waited."""
        if cancel.is_cancelled:
            return 0
        by_id, region_ids, ocr_ids = self._due()
        if by_id:
            todo = [by_id[k] for k in sorted(by_id)]
            if limit:
                todo = todo[:limit]
            run_region_pass(self.ctx, todo, progress, cancel, region_ids=region_ids, ocr_ids=ocr_ids)
        return len(by_id)

    def _due(self) -> tuple[dict[int, Photo], set[int], set[int]]:
        """Photos due for the background pass: by id, those due for regions, those due for OCR."""
        ctx = self.ctx
        by_id: dict[int, Photo] = {}
        region_ids: set[int] = set()
        ocr_ids: set[int] = set()
        if ctx.regions_key and ctx.encoder is not None:
            for p in ctx.repo.photos_needing_regions(ctx.regions_key):
                by_id[p.id] = p
                region_ids.add(p.id)
        if ctx.ocr_key:
            for p in OcrRepository(ctx.repo.engine).photos_needing_ocr(ctx.ocr_key):
                by_id[p.id] = p
                ocr_ids.add(p.id)
        return by_id, region_ids, ocr_ids

    def finish(self, cancel: CancelToken, save: bool = True) -> IndexStats:
        stats = self.ctx.stats
        if save:
            self.ctx.vectors.save()
        stats.forward_seconds = stats.fast_forward_seconds + stats.regions_forward_seconds
        stats.cancelled = cancel.is_cancelled
        return stats

    def _repoint_moves(self, plan: IndexPlan, hints: Mapping[str, str]) -> None:
        if not plan.new or not plan.missing:
            return
        by_path = {p.path: p for p in plan.missing if p.state != PhotoState.PENDING}
        by_key: dict[tuple[str, int, int], list[Photo]] = defaultdict(list)
        for p in by_path.values():
            by_key[(os.path.basename(p.path), p.size, p.mtime_ns)].append(p)
        pairs: list[tuple[int, str, int]] = []
        used: set[int] = set()
        still_new: list[DiskFile] = []
        for f in plan.new:
            src = _hinted_source(f.path, hints)
            photo = by_path.get(src) if src else None
            if photo is None or (photo.size, photo.mtime_ns) != (f.size, f.mtime_ns):
                same = by_key.get((os.path.basename(f.path), f.size, f.mtime_ns), [])
                photo = same[0] if len(same) == 1 else None  # ambiguous: let the content hash decide
            if photo is None or photo.id in used:
                still_new.append(f)
                continue
            used.add(photo.id)
            pairs.append((photo.id, f.path, f.folder_id))
        if pairs:
            WatchRepository(self.ctx.repo.engine).repoint(pairs)
            plan.new = still_new
            plan.missing = [p for p in plan.missing if p.id not in used]
            self.ctx.stats.moved += len(pairs)

    def _work_items(self, plan: IndexPlan) -> list[WorkItem]:
        repo, clip = self.ctx.repo, self.ctx.clip_model
        items: list[WorkItem] = []
        by_folder: dict[int, list[tuple[str, int, int]]] = defaultdict(list)
        for f in plan.new:
            by_folder[f.folder_id].append((f.path, f.size, f.mtime_ns))
        for folder_id, entries in by_folder.items():
            ids = repo.insert_pending(folder_id, entries)
            items.extend(WorkItem(ids[path], path) for path, _, _ in entries)
        for photo, f in plan.changed:
            # Bytes unchanged (a touch, a copy-back) keep the analysis if it is current.
            current = photo.state == PhotoState.INDEXED and (clip is None or photo.clip_model == clip)
            items.append(WorkItem(photo.id, photo.path, photo.content_hash if current else None, f.size, f.mtime_ns))
        items.extend(WorkItem(p.id, p.path) for p in plan.redo)
        return items

    @staticmethod
    def _move_candidates(plan: IndexPlan) -> dict[str, list[int]]:
        by_hash: dict[str, list[int]] = defaultdict(list)
        for p in plan.missing:
            if p.state == PhotoState.INDEXED and p.content_hash:
                by_hash[p.content_hash].append(p.id)
        return by_hash

    def clean_spool(self) -> None:
        """Spooled images nobody is waiting for (photo deleted, or pass done) are removed."""
        spool = self.ctx.paths.spool
        if not spool.is_dir():
            return
        waiting = set(self._due()[0])
        for f in spool.iterdir():
            stem = f.name.split(".", 1)[0]
            if not stem.isdigit() or int(stem) not in waiting:
                with contextlib.suppress(OSError):
                    f.unlink()


def _owner(roots: Sequence[Folder], path: str) -> Folder | None:
    """The library folder ``path`` lies in (``roots`` longest first)."""
    for f in roots:
        if path == f.path or path.startswith(f.path.rstrip(os.sep) + os.sep):
            return f
    return None


def _excluded(root: str, path: str, excludes: Iterable[str], patterns: Iterable[str] = ()) -> bool:
    """A hidden or excluded name anywhere between the library folder and ``path``, or a folder pattern."""
    rel = os.path.relpath(path, root)
    if rel == ".":
        return False
    skip = set(excludes)
    if any(part.startswith(".") or part in skip for part in rel.split(os.sep)):
        return True
    return matches_patterns(rel.replace(os.sep, "/"), patterns)


def _under_any(path: str, dirs: Iterable[str]) -> bool:
    return any(path.startswith(d.rstrip(os.sep) + os.sep) for d in dirs)


def _outermost(dirs: set[str]) -> list[str]:
    """Drop folders inside another folder of the set: walking the outer one covers them."""
    out: list[str] = []
    for d in sorted(dirs, key=len):
        if not _under_any(d, out) and d not in out:
            out.append(d)
    return out


def _hinted_source(path: str, hints: Mapping[str, str]) -> str | None:
    """Where ``path`` was before a move the watcher saw (of the file itself or of a folder above it)."""
    if not hints:
        return None
    if path in hints:
        return hints[path]
    head, tail = os.path.split(path)
    rest = tail
    while head and head != os.sep:
        if head in hints:
            return os.path.join(hints[head], rest)
        head, tail = os.path.split(head)
        rest = os.path.join(tail, rest)
    return None
