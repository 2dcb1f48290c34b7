"""CLIP image/text encoder on open_clip; torch and open_clip are imported on first use only."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from app.core.errors import ModelUnavailableError
from app.core.models import ModelStatus
from app.ml import weights
from app.ml.clip_text import build_text_tower
from app.ml.clip_visual import build_image_tower
from app.ml.runtime import import_open_clip, resolve_models_dir, seeded

log = logging.getLogger(__name__)


class ClipEncoder:
    """Embeds images and texts into one L2-normalised vector space.

    Thread-safe: the model is loaded once on first use, and forwards run one at a time.

    Args:
        model_name: open_clip architecture, e.g. ``"ViT-B-32"`` or ``"shoebox-tiny"``.
        pretrained: open_clip pretrained tag, a path to a weights file, or ``"none"``/``""`` for random
            weights (meaningless results: tests and benchmarks only).
        models_dir: folder holding ``clip/<model>/<tag>/`` weights and the ``clip/hf-cache`` download
            cache; default: the default library's ``models`` folder.
        device: torch device string.
        batch_size: images per forward pass.
        allow_download: let :meth:`load` download missing weights (with progress bars); otherwise only
            :meth:`download` touches the network.
        image_only: build only the image tower (about 1 GB less peak memory for ViT-B-32 with real
            weights): indexing never embeds text; Immich splits its CLIP models the same way.
        text_only: build only the text tower (searching never embeds images with this object).
        text_cache_size: texts whose vectors are kept (least recently used dropped first): a user
            refining a query, or the GUI re-running it, pays the forward once.
        forward_threads: torch threads for this encoder's forwards (None: the process setting).
            One suits a search query: 10-20 tokens are too little work to split, and on a busy
            machine a two-thread forward waits on the slower thread (ViT-B-32 text, 2 cores under
            load: p50 236 ms with 2 threads, 35 ms with 1).
    """

    def __init__(
        self,
        model_name: str = "ViT-B-32",
        pretrained: str = "laion2b_s34b_b79k",
        models_dir: Path | None = None,
        device: str = "cpu",
        batch_size: int = 16,
        allow_download: bool = False,
        image_only: bool = False,
        text_only: bool = False,
        text_cache_size: int = 128,
        forward_threads: int | None = None,
    ) -> None:
        if image_only and text_only:
            raise ValueError("image_only and text_only exclude each other")
        self.model_name = model_name
        self._spec = weights.ClipWeights(model_name, pretrained, resolve_models_dir(models_dir))
        self.device = device
        self.batch_size = max(1, int(batch_size))
        self.allow_download = allow_download
        self.image_only = image_only
        self.text_only = text_only
        self.text_cache_size = max(0, int(text_cache_size))
        self.forward_threads = forward_threads
        self.text_cache_hits = 0
        self._text_cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()
        self.forward_seconds = 0.0  # model forwards only, not preprocessing
        self.images_encoded = 0
        self.texts_encoded = 0
        self._model: Any = None
        self._preprocess: Any = None
        self._tokenizer: Any = None
        self._dim: int | None = None
        self._load_lock = threading.Lock()
        self._infer_lock = threading.Lock()
        # Query images take this one instead: they run beside an indexing chunk in flight rather than
        # after it (a 16-crop ViT-B/32 chunk is ~0.6 s on 2 cores). torch modules allow concurrent
        # forwards in inference mode; release() takes both locks.
        self._urgent_lock = threading.Lock()
        self._count_lock = threading.Lock()

    @property
    def model_id(self) -> str:
        """Stable ``"<model>/<pretrained>"`` string stored next to every embedding."""
        return f"{self.model_name}/{self._spec.tag_id}"

    @property
    def random_init(self) -> bool:
        return self._spec.random_init

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def status(self) -> ModelStatus:
        """Whether the model can be loaded, without loading it (torch only if a download cache exists)."""
        if not weights.clip_config_known(self.model_name):
            return ModelStatus(
                "clip", self.model_id, False, self.random_init, f"Unknown CLIP model {self.model_name!r}"
            )
        if self._spec.random_init:
            return ModelStatus("clip", self.model_id, True, True, weights.RANDOM_WARNING)
        path = self._spec.find_local()
        if path is None:
            return ModelStatus("clip", self.model_id, False, False, self._spec.missing_message())
        return ModelStatus("clip", self.model_id, True, False, f"CLIP weights: {path}")

    def hint(self) -> str:
        """Which weights file to put where, and where to download it (imports open_clip for the source)."""
        try:
            open_clip = import_open_clip()
        except ImportError:
            open_clip = None
        return self._spec.hint(open_clip)

    def download(self) -> Path:
        """Fetch the pretrained tag's weights into ``<models_dir>/clip/hf-cache`` (network; progress bars).

        Raises:
            ModelUnavailableError: the tag is unknown or the download failed (e.g. offline).
        """
        return self._spec.download(import_open_clip())

    def load(self) -> None:
        """Build the model and load its weights, once; later calls return at once.

        Raises:
            ModelUnavailableError: the weights are not on disk (the hint says which file goes where).
        """
        if self._model is not None:
            return
        with self._load_lock:
            if self._model is not None:
                return
            open_clip = import_open_clip()
            kwargs: dict[str, Any] = {}
            checkpoint: str | None = None
            if self._spec.random_init:
                log.warning("CLIP %s: %s", self.model_id, weights.RANDOM_WARNING)
            else:
                found = self._spec.find_local(open_clip)
                if found is None and self.allow_download:
                    found = self.download()
                if found is None:
                    raise ModelUnavailableError(self._spec.missing_message(), self._spec.hint(open_clip))
                checkpoint = str(found)
                kwargs = self._spec.preprocess_overrides(open_clip)
            try:
                with seeded():
                    if self.image_only:
                        model, preprocess = build_image_tower(open_clip, self.model_name, checkpoint, kwargs)
                    elif self.text_only:
                        model, self._tokenizer = build_text_tower(open_clip, self.model_name, checkpoint, kwargs)
                        preprocess = None
                    else:
                        model, _, preprocess = open_clip.create_model_and_transforms(
                            self.model_name,
                            pretrained=checkpoint,
                            device=self.device,
                            pretrained_text=False,  # never fetch tower weights from the network behind our back
                            **kwargs,
                        )
            except Exception as exc:  # open_clip, torch and safetensors raise a mix of types for bad files
                raise ModelUnavailableError(
                    f"CLIP {self.model_id} could not be loaded from {checkpoint or 'its config'}: {exc}",
                    self._spec.hint(open_clip),
                ) from exc
            if self.image_only:  # build_image_tower already put it in eval mode; there is no text to tokenise
                model.visual.to(self.device)
            elif self.text_only:
                model.text.to(self.device)
            else:
                model.eval()
                self._tokenizer = open_clip.get_tokenizer(self.model_name)
            self._preprocess = preprocess
            self._dim = int(open_clip.get_model_config(self.model_name)["embed_dim"])
            self._model = model

    @property
    def dim(self) -> int:
        """Embedding dimension (loads the model)."""
        self.load()
        assert self._dim is not None
        return self._dim

    def encode_images(self, images: Sequence[Image.Image], *, urgent: bool = False) -> np.ndarray:
        """Embed images with the model's own preprocessing.

        ``urgent``: a query image, which does not wait for another thread's forward (an indexing batch).

        Returns:
            float32 array of shape (len(images), dim), rows L2-normalised.
        """
        if self.text_only:
            raise ModelUnavailableError(f"CLIP {self.model_id} was loaded for texts only")
        self.load()
        import torch

        out = [np.zeros((0, self.dim), np.float32)]
        for start in range(0, len(images), self.batch_size):
            chunk = images[start : start + self.batch_size]
            # Preprocessing stays outside the inference lock so other threads can prepare batches.
            batch = torch.stack([self._preprocess(im) for im in chunk]).to(self.device)
            out.append(self._forward(lambda m, b=batch: m.encode_image(b), len(chunk), "images_encoded", urgent))
        return _normalise(np.concatenate(out))

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts (no prompt template is added here); recent texts come from a small LRU cache.

        Returns:
            float32 array of shape (len(texts), dim), rows L2-normalised.
        """
        if self.image_only:
            raise ModelUnavailableError(f"CLIP {self.model_id} was loaded for images only")
        texts = list(texts)
        found: dict[str, np.ndarray] = {}
        with self._cache_lock:
            for t in texts:
                vec = self._text_cache.get(t)
                if vec is not None:
                    self._text_cache.move_to_end(t)
                    found[t] = vec
                    self.text_cache_hits += 1
        todo = list(dict.fromkeys(t for t in texts if t not in found))
        if todo:
            self.load()
            parts = [np.zeros((0, self.dim), np.float32)]
            for start in range(0, len(todo), self.batch_size):
                chunk = todo[start : start + self.batch_size]
                tokens = self._tokenizer(chunk).to(self.device)
                parts.append(self._forward(lambda m, t=tokens: m.encode_text(t), len(chunk), "texts_encoded"))
            fresh = _normalise(np.concatenate(parts))
            fresh.setflags(write=False)  # shared with the cache: callers must not change it in place
            with self._cache_lock:
                for t, vec in zip(todo, fresh, strict=True):
                    found[t] = vec
                    if self.text_cache_size:
                        self._text_cache[t] = vec
                        self._text_cache.move_to_end(t)
                while len(self._text_cache) > self.text_cache_size:
                    self._text_cache.popitem(last=False)
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return np.stack([found[t] for t in texts]).astype(np.float32, copy=False)

    def _forward(self, call: Any, n: int, counter: str, urgent: bool = False) -> np.ndarray:
        import torch

        with self._urgent_lock if urgent else self._infer_lock, torch.inference_mode():
            model = self._model
            if model is None:  # released by another thread between load() and here
                raise ModelUnavailableError(f"CLIP {self.model_id} was released while in use")
            started = time.perf_counter()
            threads = torch.get_num_threads()
            # The setting is process-wide: set for this forward only, then put back.
            narrowed = bool(self.forward_threads) and self.forward_threads != threads
            if narrowed:
                torch.set_num_threads(self.forward_threads)
            try:
                features = call(model)
            finally:
                if narrowed:
                    torch.set_num_threads(threads)
            with self._count_lock:  # an urgent forward may run beside another
                self.forward_seconds += time.perf_counter() - started
                setattr(self, counter, getattr(self, counter) + n)
        return features.float().cpu().numpy().reshape(n, -1)

    def release(self) -> None:
        """Free the model; the next encode loads it again."""
        with self._load_lock, self._infer_lock, self._urgent_lock:
            self._model = self._preprocess = self._tokenizer = None


def _normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)
