"""Words facade: find photos by the text in them (OCR), and what was read in one photo.

The reader runs in the background pass (``app/indexing/ocr_step.py``); this mixin builds it, hands it to
the indexing context and answers queries. ``Library.search`` calls :meth:`_word_hits` for plain text and
``--words`` queries.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from app.core.errors import BadInputError
from app.core.models import LibraryStatus, ModelStatus, Photo, SearchHit, SearchQuery, SearchResults, TextLine
from app.core.protocols import TextReader
from app.indexing.context import IndexContext
from app.search.words import find_words, to_hits
from app.services.library import LibraryCore
from app.storage.ocr_repo import OcrRepository, normalize

_AUTO = object()
# Loaded ONNX sessions are shared by every library of the process (tests and the GUI open several).
_readers: dict[tuple[int, Path | None, Path | None], TextReader] = {}
_readers_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class PhotoInfo:
    """One photo as the library knows it, with the text lines read in it (boxes in photo pixels)."""

    photo: Photo
    lines: list[TextLine] = field(default_factory=list)
    ocr_key: str | None = None  # engine the lines were read with; None: not read (yet)


class WordsMixin(LibraryCore):
    _text_reader: TextReader | object | None = _AUTO

    def use_text_reader(self, reader: TextReader | None) -> None:
        """Use ``reader`` for OCR instead of the bundled engine (``None`` turns OCR off)."""
        self._text_reader = reader

    @property
    def text_reader(self) -> TextReader | None:
        """The OCR reader, or None when OCR is off in the settings or its engine is not installed."""
        if self._text_reader is _AUTO:
            s = self.settings
            self._text_reader = (
                _default_reader(s.ocr_det_side, self._ocr_file(s.ocr_rec_model), self._ocr_file(s.ocr_rec_keys))
                if s.ocr
                else None
            )
        reader = self._text_reader
        if reader is None or not reader.status().available:  # type: ignore[union-attr]
            return None
        return reader  # type: ignore[return-value]

    def _ocr_file(self, name: str) -> Path | None:
        """A recognition model file as given, else in ``<library>/models/ocr/``."""
        if not name:
            return None
        given = Path(name).expanduser()
        return given if given.is_absolute() or given.is_file() else self.paths.models / "ocr" / name

    def ocr_status(self) -> ModelStatus:
        reader = self._text_reader if self._text_reader is not _AUTO else self.text_reader
        if reader is None:
            return ModelStatus("ocr", "", False, message="text in photos (OCR) turned off")
        return reader.status()  # type: ignore[union-attr]

    def status(self) -> LibraryStatus:
        """The core status, with the OCR engine among the models."""
        st = super().status()
        st.models["ocr"] = self.ocr_status()
        return st

    def _context(self) -> IndexContext:
        ctx = super()._context()
        ctx.ocr = self.text_reader
        if ctx.ocr is None and self.settings.ocr:
            ctx.stats.notes.append(f"text in photos is not read: {self.ocr_status().message}")
        return ctx

    @property
    def _ocr_repo(self) -> OcrRepository:
        return OcrRepository(self.repo.engine)

    def search_words(self, text: str, top: int | None = None) -> SearchResults:
        """Photos whose recognised text contains ``text`` (OCR errors tolerated), best first, each with
        the matching line's box.

        Raises:
            BadInputError: ``text`` has no letters or digits.
        """
        return self.search(SearchQuery(words=text, top=top))  # type: ignore[attr-defined]

    def _word_hits(self, query: SearchQuery, results: SearchResults) -> list[SearchHit]:
        """Words hits for ``query.words`` (or, for a plain text query, its text).

        Raises:
            BadInputError: ``query.words`` has no letters or digits.
        """
        text = query.words if query.words is not None else query.text
        if not text:
            return []
        if query.words is not None and not normalize(query.words):
            raise BadInputError("words to find need some letters or digits")
        repo = self._ocr_repo
        matches = find_words(text, repo, None if query.all else query.top, query.exclude_photo_ids)
        hits = to_hits(matches, self.repo.photos_by_ids(m.photo_id for m in matches))
        if not hits and query.words is not None and repo.read_count() == 0:
            results.notes.append("no text has been read in this library yet (run 'shoebox index')")
        return hits

    def photo_info(self, path: Path | str) -> PhotoInfo:
        """What the library holds about the photo at ``path``, with its recognised text lines.

        Raises:
            BadInputError: the path is not a photo of this library.
        """
        p = Path(path).expanduser()
        photo = self.repo.photo_by_path(str(p.resolve())) or self.repo.photo_by_path(str(p))
        if photo is None:
            raise BadInputError(f"not a photo of this library: {path}")
        repo = self._ocr_repo
        lines = [TextLine(ln.text, ln.box, ln.confidence) for ln in repo.lines_of(photo.id)]
        return PhotoInfo(photo, lines, repo.ocr_key_of(photo.id))


def _default_reader(det_side: int, rec_model: Path | None = None, rec_keys: Path | None = None) -> TextReader:
    from app.ml.ocr import TextReader as OnnxTextReader

    key = (det_side, rec_model, rec_keys)
    with _readers_lock:
        if key not in _readers:
            _readers[key] = OnnxTextReader(det_side=det_side, rec_model=rec_model, rec_keys=rec_keys)
        return _readers[key]
