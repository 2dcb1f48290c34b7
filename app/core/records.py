"""What the indexing pipeline hands to storage: one record per photo per pass."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from app.core.models import Box, RegionKind, TextLine


@dataclass(slots=True)
class FastRecord:
    """Result of the fast pass for one photo (or its failure)."""

    photo_id: int
    path: str
    content_hash: str | None = None
    width: int = 0
    height: int = 0
    format: str | None = None
    taken_at: str | None = None
    hashes: dict[str, int] = field(default_factory=dict)
    embedding: np.ndarray | None = None  # whole-photo vector for ``clip_model``
    clip_model: str | None = None
    error: str | None = None
    moved_from: int | None = None  # id of a vanished photo with the same bytes: keep its data
    unchanged: bool = False  # same bytes as already indexed (a touched file): only size/mtime move
    size: int | None = None  # new (size, mtime_ns) to record for a changed file
    mtime_ns: int | None = None
    local_features: LocalFeatures | None = None  # crop search's codes of the working image
    colour: bytes | None = None  # 64-byte palette histogram (app/imaging/colour.py)
    colour_version: str | None = None


@dataclass(slots=True)
class LocalFeatures:
    """Compact local features of one photo (see app/imaging/local_features.py)."""

    version: str
    codes: np.ndarray  # (n, 32) uint8
    xy: np.ndarray  # (n, 4) float32: x, y (working-image pixels), angle (degrees), size (pixels)
    scale: float  # photo pixels per working-image pixel


@dataclass(slots=True)
class RegionRecord:
    kind: RegionKind
    box: Box  # photo pixels
    label: str | None = None
    confidence: float | None = None
    embedding: np.ndarray | None = None


@dataclass(slots=True)
class RegionPassRecord:
    """Result of the region pass for one photo: its object and tile regions with their vectors."""

    photo_id: int
    regions_key: str
    clip_model: str
    regions: list[RegionRecord] = field(default_factory=list)
    # (tag, best confidence, boxes) of every detection, also those too small to embed as a region: the
    # photo's detector tags, written in the same transaction. None: leave the tags to the tag pass.
    detector_tags: list[tuple[str, float, int]] | None = None


@dataclass(slots=True)
class OcrRecord:
    """Result of OCR for one photo: its text lines (boxes in photo pixels), read with ``ocr_key``."""

    photo_id: int
    ocr_key: str
    content_hash: str | None
    lines: list[TextLine] = field(default_factory=list)
