"""The fast pass: every new or changed photo is read and decoded once, hashed, thumbnailed and given
its whole-photo embedding, so it is findable before the slower region pass reaches it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from app.core.progress import CancelToken, PhaseMeter, ProgressCallback
from app.core.records import FastRecord, LocalFeatures
from app.imaging.colour import COLOUR_VERSION, colour_descriptor
from app.imaging.decode import DecodeError, content_hash, decode_bytes, read_file
from app.imaging.hashes import compute_hashes
from app.imaging.local_features import FEATURES_VERSION, index_features
from app.imaging.thumbnails import write_spool, write_thumbnail
from app.indexing.context import IndexContext
from app.indexing.workers import BatchWriter, prefetch

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WorkItem:
    photo_id: int
    path: str
    known_hash: str | None = None  # stored hash of an indexed photo whose size/mtime changed
    size: int | None = None
    mtime_ns: int | None = None


@dataclass(slots=True)
class _Prepared:
    record: FastRecord
    image: Image.Image | None = None


class MoveClaims:
    """Content hashes of vanished photos; the first new file with the same bytes claims one (a move)."""

    def __init__(self, by_hash: dict[str, list[int]]) -> None:
        self._by_hash, self._lock = by_hash, threading.Lock()
        self.claimed: set[int] = set()

    def claim(self, digest: str) -> int | None:
        with self._lock:
            ids = self._by_hash.get(digest)
            if not ids:
                return None
            pid = ids.pop()
            self.claimed.add(pid)
            return pid


def _prepare(ctx: IndexContext, moves: MoveClaims, item: WorkItem) -> _Prepared:
    """Runs on a decode thread: everything per photo that is not a model forward."""
    rec = FastRecord(item.photo_id, item.path, size=item.size, mtime_ns=item.mtime_ns)
    try:
        data = read_file(Path(item.path))
        rec.content_hash = content_hash(data)
        if item.known_hash is not None and rec.content_hash == item.known_hash:
            rec.unchanged = True  # touched, not edited: the analysis stands
            return _Prepared(rec)
        moved_from = moves.claim(rec.content_hash)
        if moved_from is not None:
            rec.moved_from = moved_from
            return _Prepared(rec)
        s = ctx.settings
        ctx.priority.wait_turn()  # a search running now gets the cores first
        decoded = decode_bytes(data, s.work_image_size, s.max_image_pixels)
        del data
    except DecodeError as exc:
        rec.error = str(exc)
        return _Prepared(rec)
    rec.width, rec.height, rec.format, rec.taken_at = decoded.width, decoded.height, decoded.format, decoded.taken_at
    rec.hashes, _trim = compute_hashes(decoded.image)
    feats = index_features(decoded.image, decoded.width)
    rec.local_features = LocalFeatures(FEATURES_VERSION, feats.codes, feats.xy, feats.scale)
    rec.colour, rec.colour_version = colour_descriptor(decoded.image), COLOUR_VERSION
    write_thumbnail(decoded.image, ctx.paths.thumbnail_for(rec.content_hash), ctx.settings.thumbnail_size)
    if ctx.encoder is not None or ctx.ocr is not None:  # the background pass reads it back
        _spool(ctx, rec.photo_id, decoded.image)
    return _Prepared(rec, decoded.image)


def _spool(ctx: IndexContext, photo_id: int, image: Image.Image) -> None:
    estimate = image.width * image.height // 4  # a q93 JPEG of a photo is about a quarter byte per pixel
    with ctx.spool_lock:
        if ctx.spool_bytes + estimate > ctx.settings.spool_limit_mb * 1024 * 1024:
            return  # over budget: the region pass decodes this one again instead
        ctx.spool_bytes += estimate  # reserved before writing, so parallel decoders cannot overshoot
    size = write_spool(image, ctx.paths.spool / f"{photo_id}.jpg")
    with ctx.spool_lock:
        ctx.spool_bytes += size - estimate


def run_fast_pass(
    ctx: IndexContext, items: Sequence[WorkItem], moves: MoveClaims, progress: ProgressCallback, cancel: CancelToken
) -> None:
    """Process ``items`` to completion or cancellation; commits one transaction per batch."""
    stats = ctx.stats
    meter = PhaseMeter("fast", len(items), progress)
    meter.start()
    t0, f0 = time.perf_counter(), ctx.forward_seconds()

    def commit(records: list[FastRecord]) -> None:
        ctx.vectors.apply(ctx.repo.write_fast_batch(records))
        for rec in records:
            if rec.error is not None:
                stats.failed += 1
                stats.failures.append((rec.path, rec.error))
            elif rec.moved_from is not None:
                stats.moved += 1
            elif not rec.unchanged:
                stats.indexed += 1
        meter.advance(len(records), records[-1].path)

    batch_size = ctx.settings.clip_batch
    writer: BatchWriter[FastRecord] = BatchWriter(commit)
    pool = ThreadPoolExecutor(max(1, ctx.settings.decode_threads), thread_name_prefix="shoebox-decode")
    try:
        batch: list[_Prepared] = []
        for prepared in prefetch(pool, lambda it: _prepare(ctx, moves, it), items, batch_size * 3, cancel):
            batch.append(prepared)
            if len(batch) >= batch_size:
                writer.submit(_embed(ctx, batch))
                batch = []
        if batch and not cancel.is_cancelled:
            writer.submit(_embed(ctx, batch))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        writer.close()
        stats.fast_seconds += time.perf_counter() - t0
        stats.fast_forward_seconds += ctx.forward_seconds() - f0


def _embed(ctx: IndexContext, batch: list[_Prepared]) -> list[FastRecord]:
    """The model step: one CLIP batch for the whole photos of this batch (on the caller's thread)."""
    with_image = [p for p in batch if p.image is not None]
    if ctx.encoder is not None and with_image:
        ctx.priority.wait_turn()
        vectors = ctx.encoder.encode_images([p.image for p in with_image])
        ctx.stats.model_images += len(with_image)
        for p, vec in zip(with_image, vectors, strict=True):
            p.record.embedding = vec
            p.record.clip_model = ctx.encoder.model_id
    for p in batch:
        p.image = None
    return [p.record for p in batch]
