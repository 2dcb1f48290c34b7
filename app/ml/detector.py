"""Object detector on ultralytics YOLO; torch and ultralytics are imported on first use only."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from app.core.errors import ModelUnavailableError
from app.core.models import Detection, ModelStatus
from app.ml.runtime import (
    import_ultralytics,
    resolve_models_dir,
    restore_threads,
    seeded,
    yolo_offline_is_ours,
)
from app.ml.weights import RANDOM_WARNING

log = logging.getLogger(__name__)


class ObjectDetector:
    """Finds objects (boxes, labels, confidences) in images; thread-safe like :class:`ClipEncoder`.

    Args:
        weights: a ``.pt`` file name or path (looked up as given, then in ``<models_dir>/detector/``),
            or a ``.yaml`` architecture such as ``"yolo11n.yaml"`` for random weights (tests and
            benchmarks only).
        models_dir: folder holding ``detector/<weights>``; default: the default library's ``models``.
        confidence: minimum box confidence.
        max_boxes: most boxes kept per image.
        image_size: the detector's input size (long side, letterboxed).
        batch_size: images per ``predict`` call.
        device: torch device string; explicit because ultralytics would otherwise pick a GPU on its own.
    """

    def __init__(
        self,
        weights: str = "yolo11n.pt",
        models_dir: Path | None = None,
        confidence: float = 0.25,
        max_boxes: int = 10,
        image_size: int = 640,
        batch_size: int = 8,
        device: str = "cpu",
    ) -> None:
        self.weights = weights
        self.models_dir = resolve_models_dir(models_dir)
        self.confidence = confidence
        self.max_boxes = max_boxes
        self.image_size = image_size
        self.batch_size = max(1, int(batch_size))
        self.device = device
        # Whole predict calls: ultralytics' letterbox and NMS run inside them, so this includes both.
        self.forward_seconds = 0.0
        self.images_detected = 0
        self._model: Any = None
        self._load_lock = threading.Lock()
        self._infer_lock = threading.Lock()

    @property
    def model_id(self) -> str:
        """The weights name, e.g. ``"yolo11n.pt"`` or ``"yolo11n.yaml"``; stored with the regions."""
        return Path(self.weights).name

    @property
    def random_init(self) -> bool:
        return self.weights.lower().endswith((".yaml", ".yml"))

    @property
    def target(self) -> Path:
        """Where :meth:`download` puts the weights and where the user may drop them."""
        return self.models_dir / "detector" / self.model_id

    def find_weights(self) -> Path | None:
        """The weights file on disk (as given, then in the models folder), or None."""
        given = Path(self.weights).expanduser()
        for path in (given, self.target):
            if path.is_file():
                return path
        return None

    def missing_message(self) -> str:
        return f"Detector weights missing: put {self.model_id} in {self.target.parent}{os.sep}"

    def status(self) -> ModelStatus:
        """Whether the model can be loaded, without importing torch."""
        if self.random_init:
            return ModelStatus("detector", self.model_id, True, True, RANDOM_WARNING)
        path = self.find_weights()
        if path is None:
            return ModelStatus("detector", self.model_id, False, False, self.missing_message())
        return ModelStatus("detector", self.model_id, True, False, f"Detector weights: {path}")

    def download(self) -> Path:
        """Fetch official ultralytics weights into ``<models_dir>/detector/`` (network).

        Raises:
            ModelUnavailableError: the download failed (e.g. offline) or the name is not an official asset.
        """
        if self.random_init:
            raise ModelUnavailableError(f"{self.model_id} is an architecture, not a weights file")
        found = self.find_weights()
        if found is not None:
            return found
        import_ultralytics()
        from ultralytics.utils.downloads import attempt_download_asset

        self.target.parent.mkdir(parents=True, exist_ok=True)
        # Our import default is YOLO_OFFLINE=1, which makes ultralytics refuse every download; this
        # call is the one place the user asked for the network, unless they set the variable themselves.
        ours = yolo_offline_is_ours()
        if ours:
            os.environ["YOLO_OFFLINE"] = "0"
        try:
            attempt_download_asset(str(self.target))
        except Exception as exc:  # network, HTTP and size-check errors all mean the same to the user
            raise ModelUnavailableError(f"Could not download {self.model_id}: {exc}", self.missing_message()) from exc
        finally:
            if ours:
                os.environ["YOLO_OFFLINE"] = "1"
        if not self.target.is_file():
            raise ModelUnavailableError(self.missing_message(), self.missing_message())
        return self.target

    def load(self) -> None:
        """Build or load the model, once; never downloads.

        Raises:
            ModelUnavailableError: the weights file is missing or unreadable.
        """
        if self._model is not None:
            return
        with self._load_lock:
            if self._model is not None:
                return
            if self.random_init:
                log.warning("Detector %s: %s", self.model_id, RANDOM_WARNING)
                source = self.weights  # ultralytics builds it from its packaged cfg
            else:
                path = self.find_weights()
                if path is None:
                    raise ModelUnavailableError(self.missing_message(), self.missing_message())
                source = str(path)
            import_ultralytics()
            from ultralytics import YOLO

            try:
                with seeded():
                    model = YOLO(source)
            except Exception as exc:  # ultralytics raises a mix of types for bad or foreign files
                raise ModelUnavailableError(
                    f"Detector {self.model_id} could not be loaded from {source}: {exc}",
                    self.missing_message(),
                ) from exc
            finally:
                restore_threads()
            self._model = model

    def detect(self, images: Sequence[Image.Image]) -> list[list[Detection]]:
        """Detect objects in each image.

        Returns:
            One list per image, best first, at most ``max_boxes``, boxes as (x0, y0, x1, y1) in that
            image's pixels.
        """
        self.load()
        out: list[list[Detection]] = []
        for start in range(0, len(images), self.batch_size):
            chunk = [im if im.mode == "RGB" else im.convert("RGB") for im in images[start : start + self.batch_size]]
            out.extend(self._predict(chunk))
        return out

    def _predict(self, chunk: list[Image.Image]) -> list[list[Detection]]:
        with self._infer_lock:
            model = self._model
            if model is None:  # released by another thread between load() and here
                raise ModelUnavailableError(f"Detector {self.model_id} was released while in use")
            started = time.perf_counter()
            try:
                results = model.predict(
                    chunk,
                    imgsz=self.image_size,
                    conf=self.confidence,
                    max_det=self.max_boxes,
                    device=self.device,
                    verbose=False,
                )
            finally:
                restore_threads()  # its select_device() lowers torch's thread count on every new predictor
            self.forward_seconds += time.perf_counter() - started
            self.images_detected += len(chunk)
        return [self._to_detections(result, im.size) for result, im in zip(results, chunk, strict=True)]

    def _to_detections(self, result: Any, size: tuple[int, int]) -> list[Detection]:
        boxes = result.boxes
        if boxes is None or len(boxes) == 0:
            return []
        width, height = size
        xyxy = boxes.xyxy.cpu().numpy().tolist()
        conf = boxes.conf.cpu().numpy().tolist()
        cls = boxes.cls.cpu().numpy().astype(int).tolist()
        found = []
        for (x0, y0, x1, y1), c, k in zip(xyxy, conf, cls, strict=True):
            box = (
                min(max(x0, 0.0), width),
                min(max(y0, 0.0), height),
                min(max(x1, 0.0), width),
                min(max(y1, 0.0), height),
            )
            found.append(Detection(box, str(result.names.get(k, k)), float(c)))
        found.sort(key=lambda d: d.confidence, reverse=True)
        return found[: self.max_boxes]

    def release(self) -> None:
        """Free the model; the next detect loads it again."""
        with self._load_lock, self._infer_lock:
            self._model = None
