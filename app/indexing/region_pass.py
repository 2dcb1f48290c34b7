"""The region pass: detector boxes and fixed tiles of each indexed photo, all regions of a batch
embedded in one CLIP call. Works from the spooled working image, so the photo is not decoded again.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from app.core.models import Photo, RegionKind
from app.core.progress import CancelToken, PhaseMeter, ProgressCallback
from app.core.records import RegionPassRecord, RegionRecord
from app.imaging.decode import DecodeError, decode_file
from app.imaging.regions import crop_box, scale_box, tile_boxes, usable_detections
from app.imaging.thumbnails import read_spool
from app.indexing.context import IndexContext
from app.indexing.workers import BatchWriter, prefetch


@dataclass(slots=True)
class _Loaded:
    photo: Photo
    image: Image.Image | None
    redecoded: bool = False


def _load(ctx: IndexContext, photo: Photo) -> _Loaded:
    image = read_spool(ctx.paths.spool / f"{photo.id}.jpg")
    if image is not None:
        return _Loaded(photo, image)
    # Spool over budget or lost (e.g. indexed by an older run): decode the original once more.
    try:
        digest, decoded = decode_file(Path(photo.path), ctx.settings.work_image_size, ctx.settings.max_image_pixels)
    except DecodeError:
        return _Loaded(photo, None)
    if digest != photo.content_hash:
        return _Loaded(photo, None)  # edited since: the next scan re-indexes it
    return _Loaded(photo, decoded.image, redecoded=True)


def run_region_pass(
    ctx: IndexContext, photos: Sequence[Photo], progress: ProgressCallback, cancel: CancelToken
) -> None:
    """Add object and tile regions with embeddings to ``photos`` (requires the CLIP encoder)."""
    assert ctx.encoder is not None and ctx.regions_key is not None
    stats = ctx.stats
    meter = PhaseMeter("regions", len(photos), progress)
    meter.start()
    t0, f0 = time.perf_counter(), ctx.forward_seconds()

    def commit(records: list[RegionPassRecord]) -> None:
        ctx.vectors.apply(ctx.repo.write_region_batch(records))
        for rec in records:
            stats.regions_done += 1
            stats.regions_added += len(rec.regions)
            with contextlib.suppress(FileNotFoundError):
                (ctx.paths.spool / f"{rec.photo_id}.jpg").unlink()
        meter.advance(len(records))

    batch_size = max(1, ctx.settings.clip_batch // 2)
    writer: BatchWriter[RegionPassRecord] = BatchWriter(commit)
    pool = ThreadPoolExecutor(max(1, ctx.settings.decode_threads), thread_name_prefix="shoebox-load")
    try:
        batch: list[_Loaded] = []
        for loaded in prefetch(pool, lambda p: _load(ctx, p), photos, batch_size * 3, cancel):
            if loaded.image is None:
                meter.advance(1)
                continue
            stats.redecoded += loaded.redecoded
            batch.append(loaded)
            if len(batch) >= batch_size:
                writer.submit(_analyse(ctx, batch))
                batch = []
        if batch and not cancel.is_cancelled:
            writer.submit(_analyse(ctx, batch))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        writer.close()
        stats.regions_seconds += time.perf_counter() - t0
        stats.regions_forward_seconds += ctx.forward_seconds() - f0


def _analyse(ctx: IndexContext, batch: list[_Loaded]) -> list[RegionPassRecord]:
    """Detect on the batch, then embed every region of every photo in one encoder call."""
    assert ctx.encoder is not None and ctx.regions_key is not None
    s = ctx.settings
    images = [b.image for b in batch]
    detections = ctx.detector.detect(images) if ctx.detector is not None else [[] for _ in images]
    records: list[RegionPassRecord] = []
    crops: list[Image.Image] = []
    for loaded, dets, image in zip(batch, detections, images, strict=True):
        assert image is not None
        photo = loaded.photo
        scale = (photo.width or image.width) / image.width
        rec = RegionPassRecord(photo.id, ctx.regions_key, ctx.encoder.model_id)
        for det in usable_detections(dets, s.detector_max_boxes):
            rec.regions.append(RegionRecord(RegionKind.OBJECT, det.box, det.label, round(det.confidence, 4)))
        for box in tile_boxes(image.width, image.height):
            rec.regions.append(RegionRecord(RegionKind.TILE, box))
        for region in rec.regions:
            crops.append(image.crop(crop_box(region.box)))
            region.box = scale_box(region.box, scale, photo.width or image.width, photo.height or image.height)
        records.append(rec)
    ctx.stats.model_images += len(images) * (ctx.detector is not None) + len(crops)
    vectors = ctx.encoder.encode_images(crops) if crops else []
    it = iter(vectors)
    for rec in records:
        for region in rec.regions:
            region.embedding = next(it)
    for b in batch:
        b.image = None
    return records
