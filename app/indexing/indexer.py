"""One indexing run: scan → plan → fast pass → sweep → region pass → save the vector caches."""

from __future__ import annotations

import contextlib
import logging
import os
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from app.core.models import Folder, IndexStats, Photo, PhotoState
from app.core.progress import CancelToken, PhaseMeter, ProgressCallback
from app.indexing.context import IndexContext
from app.indexing.fast_pass import MoveClaims, WorkItem, run_fast_pass
from app.indexing.region_pass import run_region_pass
from app.indexing.scanner import DiskFile, IndexPlan, plan_changes, walk_folder
from app.storage.ocr_repo import OcrRepository

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
            for f in walk_folder(Path(folder.path), folder.id, s.excludes, extra):
                disk.append(f)
                meter.advance(1, f.path)
                if len(disk) % 1000 == 0:
                    cancel.check()
        plan = plan_changes(disk, self.ctx.repo.photos_in_folders([f.id for f in present]), self.ctx.clip_model)
        meter.total = len(disk)
        meter.advance(0, force=True)
        return plan

    def run(
        self, folders: Sequence[Folder], progress: ProgressCallback, cancel: CancelToken, regions: bool = True
    ) -> IndexStats:
        ctx, stats = self.ctx, self.ctx.stats
        plan = self.scan(folders, progress, cancel)
        stats.scanned, stats.unchanged = plan.scanned, plan.unchanged
        stats.new, stats.changed = len(plan.new), len(plan.changed)
        if ctx.paths.spool.is_dir():  # left by an interrupted run: counts against the budget
            ctx.spool_bytes = sum(f.stat().st_size for f in ctx.paths.spool.iterdir() if f.is_file())
        if ctx.clip_model:
            ctx.vectors.get(ctx.clip_model)  # load (or rebuild) now so batches update it incrementally
        items = self._work_items(plan)
        moves = MoveClaims(self._move_candidates(plan))
        if items:
            run_fast_pass(ctx, items, moves, progress, cancel)
        if not cancel.is_cancelled:
            gone = [p.id for p in plan.missing if p.id not in moves.claimed]
            if gone:
                ctx.vectors.apply(ctx.repo.delete_photos(gone))
                stats.removed = len(gone)
        if regions and not cancel.is_cancelled:
            self._background_pass(progress, cancel)
        if not cancel.is_cancelled and (ctx.regions_key or ctx.ocr_key):
            self._clean_spool()
        ctx.vectors.save()
        stats.forward_seconds = stats.fast_forward_seconds + stats.regions_forward_seconds
        stats.cancelled = cancel.is_cancelled
        return stats

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

    def _background_pass(self, progress: ProgressCallback, cancel: CancelToken) -> None:
        by_id, region_ids, ocr_ids = self._due()
        if by_id:
            todo = [by_id[k] for k in sorted(by_id)]
            run_region_pass(self.ctx, todo, progress, cancel, region_ids=region_ids, ocr_ids=ocr_ids)

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

    def _clean_spool(self) -> None:
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
