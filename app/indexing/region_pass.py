"""The region pass: detector boxes and fixed tiles of each indexed photo, all regions of a batch
embedded in one CLIP call, and the text in the photo read by OCR. Works from the spooled working image,
so the photo is not decoded again. Each photo gets only the steps it is due for: regions when its
``regions_key`` is not the current one, OCR when it has not been read with the current ``ocr_key``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence, Set
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from app.core.models import Photo, RegionKind
from app.core.progress import CancelToken, PhaseMeter, ProgressCallback
from app.core.records import OcrRecord, RegionPassRecord, RegionRecord
from app.imaging.decode import DecodeError, decode_file
from app.imaging.regions import crop_box, scale_box, tile_boxes, usable_detections
from app.imaging.thumbnails import read_spool
from app.indexing.context import IndexContext
from app.indexing.ocr_step import read_text
from app.indexing.tagging import detector_tags, label_counts
from app.indexing.workers import BatchWriter, prefetch
from app.storage.ocr_repo import OcrRepository


@dataclass(slots=True)
class _Loaded:
    photo: Photo
    image: Image.Image | None
    redecoded: bool = False
    regions: bool = True  # due for detector + CLIP regions
    ocr: bool = False  # due for OCR


@dataclass(slots=True)
class _Result:
    photo_id: int
    regions: RegionPassRecord | None
    ocr: OcrRecord | None


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
    ctx: IndexContext,
    photos: Sequence[Photo],
    progress: ProgressCallback,
    cancel: CancelToken,
    region_ids: Set[int] | None = None,
    ocr_ids: Set[int] = frozenset(),
) -> None:
    """Add object and tile regions with embeddings (requires the CLIP encoder) and OCR lines to ``photos``.

    ``region_ids`` / ``ocr_ids``: which of ``photos`` are due for each step (``region_ids`` None: all).
    """
    assert (ctx.encoder is not None and ctx.regions_key is not None) or ctx.ocr is not None
    stats = ctx.stats
    ocr_repo = OcrRepository(ctx.repo.engine)
    meter = PhaseMeter("regions", len(photos), progress)
    meter.start()
    t0, f0 = time.perf_counter(), ctx.forward_seconds()

    def commit(results: list[_Result]) -> None:
        records = [r.regions for r in results if r.regions is not None]
        if records:
            ctx.vectors.apply(ctx.repo.write_region_batch(records))
        texts = [r.ocr for r in results if r.ocr is not None]
        if texts:
            stats.ocr_lines += ocr_repo.write_batch(texts)
            stats.ocr_done += len(texts)
        for rec in records:
            stats.regions_done += 1
            stats.regions_added += len(rec.regions)
        for r in results:
            with contextlib.suppress(FileNotFoundError):
                (ctx.paths.spool / f"{r.photo_id}.jpg").unlink()
        meter.advance(len(results))

    batch_size = max(1, ctx.settings.clip_batch // 2)
    writer: BatchWriter[_Result] = BatchWriter(commit)
    can_regions = ctx.encoder is not None and ctx.regions_key is not None

    def load(photo: Photo) -> _Loaded:
        ctx.priority.wait_turn(cancel)
        loaded = _load(ctx, photo)
        loaded.regions = can_regions and (region_ids is None or photo.id in region_ids)
        loaded.ocr = ctx.ocr is not None and photo.id in ocr_ids
        return loaded

    pool = ThreadPoolExecutor(max(1, ctx.settings.decode_threads), thread_name_prefix="shoebox-load")
    try:
        batch: list[_Loaded] = []
        for loaded in prefetch(pool, load, photos, batch_size * 3, cancel):
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


def _analyse(ctx: IndexContext, batch: list[_Loaded]) -> list[_Result]:
    """OCR and region steps of a batch, each on the photos due for it, from the same images."""
    texts = {r.photo_id: r for r in read_text(ctx, [(b.photo, b.image) for b in batch if b.ocr and b.image])}
    due = [b for b in batch if b.regions]
    ctx.priority.wait_turn()
    regions = {r.photo_id: r for r in _regions(ctx, due)} if due else {}
    for b in batch:
        b.image = None
    return [_Result(b.photo.id, regions.get(b.photo.id), texts.get(b.photo.id)) for b in batch]


def _regions(ctx: IndexContext, batch: list[_Loaded]) -> list[RegionPassRecord]:
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
        if ctx.detector is not None:  # tags from every box, also those too small to embed as a region
            rec.detector_tags = detector_tags(label_counts(dets))
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
    return records
