"""The core of the ``Library`` facade: opening, models, folders, indexing, status.

Feature mixins (search, crop search, duplicates, watching) live beside it; ``app.services.Library`` combines them.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Self

from app.core.errors import BadInputError, LibraryBusyError, LibraryError, ModelProcessError
from app.core.models import Folder, IndexStats, LibraryStatus, ModelStatus
from app.core.paths import LibraryPaths, default_library_dir
from app.core.priority import QueryFirst
from app.core.progress import CancelToken, ProgressCallback, no_progress
from app.core.protocols import Detector, ImageEncoder
from app.core.settings import Settings, load_settings, save_settings
from app.indexing.context import IndexContext
from app.indexing.indexer import Indexer
from app.storage.database import open_engine
from app.storage.repository import PhotoRepository
from app.storage.vector_store import VectorStore
from app.storage.writer_lock import WriterLock

log = logging.getLogger(__name__)

_AUTO = object()
_MODEL_KEYS = ("clip_model", "clip_pretrained", "detector")


class LibraryCore:
    """A photo library: its folders, database, vector caches and models.

    Open with :meth:`open`; close with :meth:`close` (or use it as a context manager). The process
    that opens a library first is its single writer; others can read (status, searches) at the
    same time but cannot index.
    """

    def __init__(
        self,
        paths: LibraryPaths,
        settings: Settings,
        repo: PhotoRepository,
        lock: WriterLock,
        encoder: ImageEncoder | object | None = _AUTO,
        detector: Detector | object | None = _AUTO,
        model_host: bool = False,
    ) -> None:
        self.paths, self.settings, self.repo, self._lock = paths, settings, repo, lock
        self.vectors = VectorStore(repo, paths.indexes, can_save=lock.held)
        self._encoder, self._detector = encoder, detector
        self._statuses: dict[str, ModelStatus] | None = None
        self._use_host = model_host
        self._host: Any = None  # app.ml.host.ModelHost once the configured models are resolved
        self._query_encoder: ImageEncoder | None = None  # the host's query pipe to the image model
        self._models_lock = threading.Lock()  # the window resolves models from several threads
        self.priority = QueryFirst()  # searches hold it; this library's indexing passes step aside

    @classmethod
    def open(
        cls,
        root: Path | str | None = None,
        *,
        create: bool = False,
        overrides: Mapping[str, object] | None = None,
        persist_overrides: bool = False,
        encoder: ImageEncoder | object | None = _AUTO,
        detector: Detector | object | None = _AUTO,
        model_host: bool = False,
    ) -> Self:
        """Open the library at ``root`` (default: ``$SHOEBOX_LIBRARY`` or the user-data folder).

        Args:
            create: make the library if it does not exist yet.
            overrides: settings for this session (e.g. model flags); ``None`` values are ignored.
            persist_overrides: also save model choices to the library's settings file.
            encoder, detector: model objects to use instead of the configured ones (tests inject fakes;
                ``None`` turns the feature off).
            model_host: run the configured models in a separate process (``app/ml/host.py``): this
                process never imports torch, and a model crash turns semantic features off instead of
                ending the process. The window uses it; the CLI does not (docs/model-host.md says why).

        Raises:
            LibraryError: no library there (and ``create`` is False), or it cannot be read or is too new.
        """
        paths = LibraryPaths(Path(root).expanduser().resolve() if root else default_library_dir())
        if not paths.db.exists():
            if not create:
                raise LibraryError(f"no Shoebox library at {paths.root} (run 'shoebox index FOLDER' to make one)")
            if paths.root.exists() and not paths.root.is_dir():
                raise LibraryError(f"library path is not a folder: {paths.root}")
        try:
            paths.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LibraryError(f"cannot create library folder {paths.root}: {exc.strerror}") from exc
        if not os.access(paths.root, os.R_OK | os.X_OK):
            raise LibraryError(f"cannot read library folder {paths.root}")
        engine = open_engine(paths.db, create=create)
        settings = load_settings(paths.settings).with_overrides(**(overrides or {}))
        lock = WriterLock(paths.writer_lock)
        lock.acquire()
        if persist_overrides and lock.held and overrides:
            saved = load_settings(paths.settings, env={})
            changed = {k: v for k, v in overrides.items() if k in _MODEL_KEYS and v is not None}
            if changed or not paths.settings.exists():
                save_settings(saved.with_overrides(**changed), paths.settings)
        return cls(paths, settings, PhotoRepository(engine), lock, encoder, detector, model_host)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def is_writer(self) -> bool:
        return self._lock.held

    # Models

    def _resolve_models(self) -> None:
        """Build the configured model objects (cheap: nothing is loaded) and note which are usable."""
        if self._statuses is not None:
            return
        with self._models_lock:
            if self._statuses is None:
                self._statuses = self._build_models()

    def _build_models(self) -> dict[str, ModelStatus]:
        statuses = {}
        specs = self._model_specs()
        if specs and self._use_host:
            from app.ml.host import ModelHost

            # Only the window asks for the host; its child starts now and imports torch while the scan runs.
            self._host = ModelHost(specs)
            self._host.on_exit(self._on_models_exit)
            built = {name: self._host.proxy(name) for name in specs}
            self._query_encoder = built.get("query")
        else:
            built = {name: spec.build() for name, spec in specs.items() if name not in ("text", "query")}
        if self._encoder is _AUTO:
            self._encoder = built["image"]
        if self._detector is _AUTO:
            self._detector = built["detector"]
        for name, model in (("clip", self._encoder), ("detector", self._detector)):
            if model is None:
                statuses[name] = ModelStatus(name, "", False, message=f"{name} turned off")
            else:
                statuses[name] = model.status()  # type: ignore[union-attr]
        return statuses

    def _model_specs(self) -> dict[str, Any]:
        """How to build each configured model that was not given to :meth:`open` (nothing is loaded)."""
        from app.ml.host import ModelSpec

        s, specs = self.settings, {}
        if self._encoder is _AUTO:
            # Indexing embeds images only; searching embeds texts only: Immich splits its CLIP models the same way.
            clip = {"model_name": s.clip_model, "pretrained": s.clip_pretrained, "models_dir": self.paths.models}
            specs["image"] = ModelSpec("clip", {**clip, "batch_size": s.clip_batch, "image_only": True})
            specs["text"] = ModelSpec("clip", {**clip, "text_only": True, "forward_threads": 1})
            # A query image's own pipe to the indexer's image model (in the model process only).
            specs["query"] = ModelSpec("clip", specs["image"].kwargs, shares="image")
        if self._detector is _AUTO:
            # Small detector batches: no faster on a CPU, and each image in a batch costs ~20 MB.
            specs["detector"] = ModelSpec(
                "detector",
                {
                    "weights": s.detector,
                    "models_dir": self.paths.models,
                    "confidence": s.detector_confidence,
                    "max_boxes": s.detector_max_boxes,
                    "image_size": s.detector_image_size,
                    "batch_size": 2,
                },
            )
        return specs

    def _make_text_encoder(self) -> Any:
        """The CLIP text tower matching the configured image encoder (in the model process when the
        image encoder is there), or None when the image encoder is not the configured CLIP."""
        self._resolve_models()
        if self._host is not None and "text" in self._host.specs:
            return self._host.proxy("text")
        from app.ml.clip import ClipEncoder

        if not isinstance(self._encoder, ClipEncoder):
            return None
        s = self.settings
        return ClipEncoder(s.clip_model, s.clip_pretrained, self.paths.models, text_only=True, forward_threads=1)

    def _on_models_exit(self, reason: str) -> None:
        """The model process died: statuses are read again (they now say so), features turn off."""
        self._statuses = None

    @property
    def models_process(self) -> int | None:
        """The model process' pid (None when models run in this process or it has not started)."""
        return self._host.pid if self._host is not None and self._host.alive else None

    @property
    def encoder(self) -> ImageEncoder | None:
        """The CLIP image encoder, or None when its weights are missing (semantic features off)."""
        self._resolve_models()
        return self._encoder if self._statuses["clip"].available else None  # type: ignore[return-value,index]

    @property
    def query_encoder(self) -> ImageEncoder | None:
        """The image encoder for query images: with the model process, a pipe of its own to the same model,
        so a dropped image does not queue behind an indexing batch. None when semantic features are off."""
        encoder = self.encoder
        return None if encoder is None else self._query_encoder or encoder

    @property
    def detector(self) -> Detector | None:
        """The object detector, or None when its weights are missing (tiles only)."""
        self._resolve_models()
        return self._detector if self._statuses["detector"].available else None  # type: ignore[return-value,index]

    def model_status(self) -> dict[str, ModelStatus]:
        """Which models are usable, and for missing weights, the exact file to put where. Loads nothing."""
        self._resolve_models()
        return dict(self._statuses)  # type: ignore[arg-type]

    def download_models(self) -> dict[str, ModelStatus]:
        """Download missing weights of the configured models (network; progress on stderr).

        Never done behind the user's back: a 600 MB download is something they ask for.

        Raises:
            ModelUnavailableError: a download failed (offline, unknown tag); the message says what to do.
        """
        self._resolve_models()
        for name in ("clip", "detector"):
            model = self._encoder if name == "clip" else self._detector
            if model is not None and not self._statuses[name].available:  # type: ignore[index]
                model.download()  # type: ignore[union-attr]
        self._statuses = None
        return self.model_status()

    def _context(self) -> IndexContext:
        return IndexContext(
            self.paths, self.settings, self.repo, self.vectors, self.encoder, self.detector, priority=self.priority
        )

    # Folders and indexing

    def folders(self) -> list[Folder]:
        return self.repo.folders()

    def add_folder(self, path: Path | str) -> Folder:
        """Add a photo folder (nested folders merge into the outermost one).

        Raises:
            BadInputError: the path does not exist or is not a folder.
        """
        p = Path(path).expanduser()
        if not p.exists():
            raise BadInputError(f"no such folder: {path}")
        if not p.is_dir():
            raise BadInputError(f"not a folder: {path}")
        resolved = p.resolve()
        existing = self.repo.folders()
        for f in existing:
            if resolved == Path(f.path) or resolved.is_relative_to(f.path):
                return f
        folder = self.repo.add_folder(str(resolved))
        for f in existing:
            if Path(f.path).is_relative_to(resolved):
                self.repo.absorb_folder(f.id, folder.id)
        return folder

    @staticmethod
    def check_folders(paths: Sequence[Path | str]) -> None:
        """Raise :class:`BadInputError` for the first path that is not an existing folder."""
        for p in paths:
            path = Path(p).expanduser()
            if not path.exists():
                raise BadInputError(f"no such folder: {p}")
            if not path.is_dir():
                raise BadInputError(f"not a folder: {p}")

    def index(
        self,
        paths: Sequence[Path | str] | None = None,
        on_progress: ProgressCallback = no_progress,
        cancel: CancelToken | None = None,
        regions: bool = True,
    ) -> IndexStats:
        """Add ``paths`` (if given) and bring the index of those folders (default: all) up to date.

        ``on_progress`` is called from worker threads (the UI turns it into a queued signal);
        ``cancel`` stops the run after the batch in flight, keeping everything committed.

        Raises:
            BadInputError: a path is missing or not a folder (checked before anything changes).
            LibraryBusyError: another process is the library's writer.
        """
        if not self.is_writer:
            raise LibraryBusyError(f"another Shoebox process is indexing {self.paths.root}; try again when it is done")
        self.check_folders(paths or ())
        folders = [self.add_folder(p) for p in paths] if paths else self.repo.folders()
        folders = list({f.id: f for f in folders}.values())
        ctx = self._context()
        what = {"clip": "semantic search is off", "detector": "object detection is off (regions are tiles only)"}
        for name, status in self.model_status().items():
            if not status.available:
                ctx.stats.notes.append(
                    f"{what[name]}: {status.message} (or run 'shoebox models --download' while online)"
                )
        cancel = cancel or CancelToken()
        try:
            return Indexer(ctx).run(folders, on_progress, cancel, regions=regions)
        except ModelProcessError as exc:
            # The model process died mid-run: what was committed stays; finish without the models.
            log.warning("indexing goes on without models: %s", exc)
            again = self._context()
            again.stats = ctx.stats
            again.stats.notes.append(str(exc))
            return Indexer(again).run(folders, on_progress, cancel, regions=regions)

    # Reading

    def status(self) -> LibraryStatus:
        """Counts by state and pass, vector counts, folders and model availability.

        Also loads every vector cache, rebuilding any that is missing or stale from the database.
        """
        self.vectors.ensure_all()
        models = self.model_status()
        key = self._context().regions_key
        counts = self.repo.counts(key)
        vectors = sum(len(i) for i in (self.vectors.get(m) for m in self.repo.embedding_models()) if i)
        return LibraryStatus(
            library=str(self.paths.root),
            photos=counts["photos"],
            indexed=counts["indexed"],
            failed=counts["failed"],
            pending=counts["pending"],
            regions_done=counts["regions_done"],
            regions_pending=(counts["indexed"] - counts["regions_done"]) if key else 0,
            regions=counts["regions"],
            vectors=vectors,
            folders=[f.path for f in self.repo.folders()],
            models=models,
        )

    def failures(self) -> list[tuple[str, str]]:
        return self.repo.failures()

    def close(self) -> None:
        """Save the vector caches (writer only), release the writer lock and the database."""
        try:
            self.vectors.save()
        finally:
            if self._host is not None:
                self._host.close()
            self._lock.release()
            self.repo.engine.dispose()
