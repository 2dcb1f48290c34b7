"""Text in photos: PP-OCRv4 detection + recognition (the ONNX models bundled in ``rapidocr-onnxruntime``).

rapidocr and onnxruntime are imported on first use only. Only rapidocr's two model wrappers are used, not
its ``RapidOCR`` pipeline, because the pipeline's defaults are what make it slow on ordinary photos: it
*upscales* every image to a 736 px short side before detecting (a 640×480 photo is detected at 981×736),
runs an orientation classifier on every line and recognises one photo's lines at a time. Here:

- the detector sees the image at most ``det_side`` px on its long side, never upscaled;
- a photo where the detector finds nothing costs that one detector forward and nothing else;
- lines are cut from the full working image (not the detector's smaller copy), so a downscaled detector
  input does not cost recognition accuracy;
- no 0/180° classifier (``±10°`` tilt is handled by the perspective crop; upside-down text is not read);
- the lines of a whole batch of photos are recognised together, sorted by aspect ratio.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
from PIL import Image

from app.core.errors import ModelUnavailableError
from app.core.models import ModelStatus, TextLine

log = logging.getLogger(__name__)

_PACKAGE = "rapidocr_onnxruntime"
_INSTALL = "pip install rapidocr-onnxruntime"


class TextReader:
    """Reads text lines (text, box, confidence) from images; thread-safe, loads its models once.

    Args:
        det_side: longest side of the detector input; images larger than that are shrunk for detection.
        box_thresh: minimum detector score of a text box.
        text_score: minimum recognition confidence of a line.
        max_lines: most lines recognised per image (largest boxes first), a bound on worst-case cost.
        min_box_px: boxes whose short side is below this (in working-image pixels) are skipped.
        rec_batch: line crops per recognition forward.
        threads: onnxruntime intra-op threads (None: its default, one per core).
    """

    engine = "PP-OCRv4-ch"

    def __init__(
        self,
        det_side: int = 960,
        box_thresh: float = 0.5,
        text_score: float = 0.5,
        max_lines: int = 120,
        min_box_px: int = 7,
        rec_batch: int = 8,
        threads: int | None = None,
    ) -> None:
        self.det_side = int(det_side)
        self.box_thresh = box_thresh
        self.text_score = text_score
        self.max_lines = max_lines
        self.min_box_px = min_box_px
        self.rec_batch = rec_batch
        self.threads = threads
        self.forward_seconds = 0.0
        self.images_read = 0
        self._det: Any = None
        self._rec: Any = None
        self._pre: Any = None
        self._load_lock = threading.Lock()
        self._infer_lock = threading.Lock()

    @property
    def model_id(self) -> str:
        """Engine and the settings that change what is read; stored per photo, a change means a re-read."""
        return f"{self.engine}/det{self.det_side}"

    def status(self) -> ModelStatus:
        """Whether the engine is installed (its models ship inside the package), without importing it."""
        if importlib.util.find_spec(_PACKAGE) is None:
            return ModelStatus("ocr", self.model_id, False, message=f"OCR engine not installed: {_INSTALL}")
        return ModelStatus("ocr", self.model_id, True, message="OCR models bundled with rapidocr-onnxruntime")

    def load(self) -> None:
        """Create the two ONNX sessions, once.

        Raises:
            ModelUnavailableError: the engine is not installed or its models cannot be loaded.
        """
        if self._rec is not None:
            return
        with self._load_lock:
            if self._rec is not None:
                return
            try:
                from rapidocr_onnxruntime.ch_ppocr_det import TextDetector
                from rapidocr_onnxruntime.ch_ppocr_det.utils import DetPreProcess
                from rapidocr_onnxruntime.ch_ppocr_rec import TextRecognizer
                from rapidocr_onnxruntime.main import DEFAULT_CFG_PATH
                from rapidocr_onnxruntime.utils import read_yaml, update_model_path
            except ImportError as exc:
                raise ModelUnavailableError(f"OCR engine not installed ({exc})", _INSTALL) from exc
            config = update_model_path(read_yaml(DEFAULT_CFG_PATH))
            threads = -1 if self.threads is None else int(self.threads)
            det_cfg = {**config["Det"], "box_thresh": self.box_thresh, "intra_op_num_threads": threads}
            rec_cfg = {**config["Rec"], "rec_batch_num": self.rec_batch, "intra_op_num_threads": threads}
            try:
                det, rec = TextDetector(det_cfg), TextRecognizer(rec_cfg)
            except Exception as exc:  # onnxruntime raises its own types for unreadable models
                raise ModelUnavailableError(f"OCR models could not be loaded: {exc}", _INSTALL) from exc
            self._pre = DetPreProcess(self.det_side, "max", det_cfg["mean"], det_cfg["std"])
            self._det = det
            self._rec = rec

    def read(self, images: Sequence[Image.Image]) -> list[list[TextLine]]:
        """Text lines of each image, in reading order, boxes in that image's pixels."""
        self.load()
        with self._infer_lock:
            started = time.perf_counter()
            try:
                return self._read(images)
            finally:
                self.forward_seconds += time.perf_counter() - started
                self.images_read += len(images)

    def _read(self, images: Sequence[Image.Image]) -> list[list[TextLine]]:
        crops: list[np.ndarray] = []
        owners: list[tuple[int, np.ndarray]] = []
        for i, image in enumerate(images):
            bgr = np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1])
            for quad in self._detect(bgr):
                crops.append(_crop_line(bgr, quad))
                owners.append((i, quad))
        out: list[list[TextLine]] = [[] for _ in images]
        if not crops:
            return out  # nothing detected anywhere: no recognition at all
        results, _elapsed = self._rec(crops)
        for (i, quad), res in zip(owners, results, strict=True):
            text, score = str(res[0]).strip(), float(res[1])
            if text and score >= self.text_score:
                x0, y0 = quad.min(axis=0)
                x1, y1 = quad.max(axis=0)
                box = (float(x0), float(y0), float(x1), float(y1))
                out[i].append(TextLine(text, box, round(score, 4)))
        return out

    def _detect(self, bgr: np.ndarray) -> list[np.ndarray]:
        """Text quads (4×2, clockwise from top-left) in ``bgr``'s pixels, reading order, largest kept."""
        h, w = bgr.shape[:2]
        if min(h, w) < 16:
            return []
        tensor = self._pre(bgr)
        if tensor is None:
            return []
        preds = self._det.infer(tensor)[0]
        # The post-processor maps boxes from the probability map straight to the (h, w) it is given.
        boxes, _scores = self._det.postprocess_op(preds, (h, w))
        if boxes is None or len(boxes) == 0:
            return []
        quads = [q for q in self._det.filter_tag_det_res(boxes, (h, w)) if _short_side(q) >= self.min_box_px]
        if len(quads) > self.max_lines:
            quads = sorted(quads, key=lambda q: -cv2.contourArea(q.astype(np.float32)))[: self.max_lines]
        quads.sort(key=lambda q: (round(float(q[0][1]) / 10), float(q[0][0])))
        return quads

    def release(self) -> None:
        """Free the sessions; the next read loads them again."""
        with self._load_lock, self._infer_lock:
            self._det = self._rec = self._pre = None


def _short_side(quad: np.ndarray) -> float:
    return float(min(np.linalg.norm(quad[0] - quad[1]), np.linalg.norm(quad[0] - quad[3])))


def _crop_line(bgr: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """The line straightened out of its (possibly tilted) quad, as PaddleOCR crops it."""
    pts = quad.astype(np.float32)
    width = int(max(np.linalg.norm(pts[0] - pts[1]), np.linalg.norm(pts[2] - pts[3])))
    height = int(max(np.linalg.norm(pts[0] - pts[3]), np.linalg.norm(pts[1] - pts[2])))
    width, height = max(width, 1), max(height, 1)
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
    m = cv2.getPerspectiveTransform(pts, target)
    crop = cv2.warpPerspective(bgr, m, (width, height), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC)
    if height / width >= 1.5:  # a vertical line (e.g. a sign): read it turned
        crop = np.rot90(crop)
    return crop
