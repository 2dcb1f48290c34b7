"""Plain dataclasses shared by every layer. Storage returns these, never ORM rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels of the EXIF-oriented photo


class PhotoState(StrEnum):
    PENDING = "pending"
    INDEXED = "indexed"
    FAILED = "failed"


class RegionKind(StrEnum):
    PHOTO = "photo"
    OBJECT = "object"
    TILE = "tile"


@dataclass(frozen=True, slots=True)
class Folder:
    id: int
    path: str


@dataclass(frozen=True, slots=True)
class Photo:
    id: int
    path: str
    size: int
    mtime_ns: int
    state: PhotoState
    content_hash: str | None = None
    width: int | None = None
    height: int | None = None
    error: str | None = None
    clip_model: str | None = None
    regions_key: str | None = None
    taken_at: str | None = None


@dataclass(frozen=True, slots=True)
class Region:
    id: int
    photo_id: int
    kind: RegionKind
    box: Box
    label: str | None = None
    confidence: float | None = None


@dataclass(frozen=True, slots=True)
class Detection:
    """A detector box in the pixels of the image it was given."""

    box: Box
    label: str
    confidence: float


@dataclass(slots=True)
class IndexStats:
    """What one indexing run did; printed by the CLI and shown by the UI."""

    scanned: int = 0
    unchanged: int = 0
    new: int = 0
    changed: int = 0
    moved: int = 0
    removed: int = 0
    indexed: int = 0
    failed: int = 0
    regions_done: int = 0
    regions_added: int = 0
    redecoded: int = 0
    model_images: int = 0  # images and crops sent through a model
    fast_seconds: float = 0.0
    regions_seconds: float = 0.0
    forward_seconds: float = 0.0  # model forwards only, both passes
    fast_forward_seconds: float = 0.0
    regions_forward_seconds: float = 0.0
    cancelled: bool = False
    failures: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ModelStatus:
    """Whether a model can be used, and if not, exactly what the user can do about it."""

    name: str
    model_id: str
    available: bool
    random_init: bool = False
    message: str = ""


@dataclass(frozen=True, slots=True)
class LibraryStatus:
    library: str
    photos: int
    indexed: int
    failed: int
    pending: int
    regions_pending: int
    regions_done: int
    regions: int
    vectors: int
    folders: list[str]
    models: dict[str, ModelStatus]
