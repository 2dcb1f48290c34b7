"""Everything a pass needs, gathered once per run."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from app.core.models import IndexStats
from app.core.paths import LibraryPaths
from app.core.priority import QueryFirst
from app.core.protocols import Detector, ImageEncoder, TextReader
from app.core.settings import Settings
from app.storage.repository import PhotoRepository
from app.storage.vector_store import VectorStore


@dataclass(slots=True)
class IndexContext:
    paths: LibraryPaths
    settings: Settings
    repo: PhotoRepository
    vectors: VectorStore
    encoder: ImageEncoder | None  # None: semantic features off (no weights)
    detector: Detector | None
    ocr: TextReader | None = None  # None: text in photos is not read
    stats: IndexStats = field(default_factory=IndexStats)
    spool_bytes: int = 0
    spool_lock: threading.Lock = field(default_factory=threading.Lock)
    priority: QueryFirst = field(default_factory=QueryFirst)  # the library's: searches hold it

    @property
    def clip_model(self) -> str | None:
        return self.encoder.model_id if self.encoder is not None else None

    @property
    def regions_key(self) -> str | None:
        if self.encoder is None:
            return None
        det = self.detector.model_id if self.detector is not None else "none"
        return f"{self.encoder.model_id}|{det}"

    @property
    def ocr_key(self) -> str | None:
        """The reader's model id: photos whose lines were read with another key are read again."""
        return self.ocr.model_id if self.ocr is not None else None

    def forward_seconds(self) -> float:
        return sum(m.forward_seconds for m in (self.encoder, self.detector) if m is not None)
