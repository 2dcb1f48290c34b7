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


@dataclass(frozen=True, slots=True)
class TextLine:
    """A line of text read in a photo (OCR): ``box`` in pixels of the EXIF-oriented photo, or of the
    image given to the reader until the pass scales it."""

    text: str
    box: Box
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
    ocr_done: int = 0  # photos read by OCR this run
    ocr_lines: int = 0
    ocr_seconds: float = 0.0  # OCR forwards (detection + recognition)
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


class HitKind(StrEnum):
    """How a search hit was found (the ``kind`` of the CLI's JSON)."""

    EXACT = "exact"  # geometrically verified: the query really is (part of) this photo
    OBJECT = "object"  # best-matching region is a detector box
    REGION = "region"  # best-matching region is a tile
    PHOTO = "photo"  # the whole photo matched best
    TEXT = "text"  # words read in the photo (OCR); the box is the matching line


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One photo in a result list, with where in it the match sits.

    ``box`` and ``outline`` are in pixels of the EXIF-oriented, full-resolution photo; ``box`` is None when
    the whole photo is the match. ``details`` carries explanations (inliers, label, cosine, matched text).
    """

    photo_id: int
    path: str
    score: float
    kind: HitKind
    box: Box | None = None
    region_id: int | None = None
    outline: tuple[tuple[float, float], ...] | None = None  # verified hits: projected corners of the query
    inliers: int | None = None
    label: str | None = None
    details: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RegionQuery:
    """A query cut from an indexed photo (the GUI rubber-bands it); that photo is left out of the results."""

    photo_id: int
    box: Box


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """What the user asked for. The CLI and the GUI build the same object; ``Library.search`` runs it.

    Parts combine: text, an image (a file path or encoded bytes) or a region of a library photo, and
    texts to steer away from (``negative``), like rclip's query arithmetic. ``tags`` filter; ``colour``
    ranks on its own and filters alongside text or an image (see app/search/filters.py).
    """

    text: str | None = None
    image: str | bytes | None = None
    region: RegionQuery | None = None
    negative: tuple[str, ...] = ()
    top: int | None = None  # at most this many results (None: the adaptive cut-off decides)
    all: bool = False  # no cut-off at all
    exclude_photo_ids: frozenset[int] = frozenset()
    words: str | None = None  # words to find in the photos' recognised text (OCR) only
    tags: tuple[str, ...] = ()  # only photos showing every one of these tags (a filter)
    colour: str | None = None  # a colour name or "#rrggbb": ranks alone, filters alongside text/image

    @property
    def has_image(self) -> bool:
        return self.image is not None or self.region is not None

    @property
    def is_empty(self) -> bool:
        return (
            not (self.text and self.text.strip())
            and not self.has_image
            and not (self.words and self.words.strip())
            and not self.tags
            and self.colour is None
        )

    @property
    def filters_only(self) -> bool:
        """Tags and/or a colour and nothing else to rank by."""
        return not self.is_empty and not (
            (self.text and self.text.strip()) or self.has_image or (self.words and self.words.strip())
        )


@dataclass(slots=True)
class SearchResults:
    """Ranked hits (one per photo) plus notes the user should see, e.g. why semantic search was off."""

    hits: list[SearchHit] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class RootStatus:
    """One library folder as the watcher sees it."""

    path: str
    mode: str  # "watched" (file-system events), "polled" (size+mtime diff), "offline" (not there)
    reason: str = ""  # why polled or offline
    photos: int = 0


@dataclass(frozen=True, slots=True)
class WatchStatus:
    """Live-folders state, reported through the status callback and by ``Library.watch_status``."""

    active: bool
    state: str  # "starting" | "reconciling" | "indexing" | "idle" | "stopped"
    roots: tuple[RootStatus, ...] = ()
    queue_length: int = 0
    indexed: int = 0  # totals since watching started
    moved: int = 0
    removed: int = 0
    failed: int = 0
    regions_done: int = 0
    error: str | None = None  # the last batch that failed, if any (watching goes on)
