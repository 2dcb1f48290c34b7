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
from pathlib import Path
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
        gate_side: long side of the first, cheap detector pass that decides whether (and where) to run
            the full one; None: always one full pass.
        gate_thresh: probability in the gate's map that marks a pixel as possibly text.
        gate_margin: margin around the gate's text pixels, as a fraction of the image's long side.
        box_thresh: minimum detector score of a text box.
        pixel_thresh: detector probability above which a pixel counts as text.
        text_score: minimum recognition confidence of a line.
        max_lines: most lines recognised per image (largest boxes first), a bound on worst-case cost.
        min_box_px: boxes whose short side is below this (in working-image pixels) are skipped.
        rec_batch: line crops per recognition forward.
        threads: onnxruntime intra-op threads (None: its default, one per core).
        rec_model, rec_keys: another PaddleOCR recognition model in ONNX form and its character list
            (e.g. ``japan_PP-OCRv4_rec_infer.onnx`` + ``japan_dict.txt``) for other scripts; default: the
            bundled Chinese + English model.
    """

    engine = "PP-OCRv4-ch"

    def __init__(
        self,
        det_side: int = 1024,
        gate_side: int | None = 736,
        gate_thresh: float = 0.1,
        gate_margin: float = 0.2,
        box_thresh: float = 0.5,
        pixel_thresh: float = 0.3,
        text_score: float = 0.5,
        max_lines: int = 120,
        min_box_px: int = 7,
        rec_batch: int = 8,
        threads: int | None = None,
        rec_model: Path | None = None,
        rec_keys: Path | None = None,
    ) -> None:
        self.det_side = int(det_side)
        self.gate_side = gate_side
        self.gate_thresh = gate_thresh
        self.gate_margin = gate_margin
        self.box_thresh = box_thresh
        self.pixel_thresh = pixel_thresh
        self.text_score = text_score
        self.max_lines = max_lines
        self.min_box_px = min_box_px
        self.rec_batch = rec_batch
        self.threads = threads
        self.rec_model = Path(rec_model) if rec_model else None
        self.rec_keys = Path(rec_keys) if rec_keys else None
        self.forward_seconds = 0.0
        self.images_read = 0
        self._det: Any = None
        self._rec: Any = None
        self._mean: Any = None
        self._prep: Any = None
        self._std: Any = None
        self._load_lock = threading.Lock()
        self._infer_lock = threading.Lock()

    @property
    def model_id(self) -> str:
        """Engine and the settings that change what is read; stored per photo, a change means a re-read."""
        gate = f"-gate{self.gate_side}" if self.gate_side else ""
        rec = f"/{self.rec_model.stem}" if self.rec_model else ""
        return f"{self.engine}/det{self.det_side}{gate}{rec}"

    def status(self) -> ModelStatus:
        """Whether the engine is installed (its models ship inside the package), without importing it."""
        if importlib.util.find_spec(_PACKAGE) is None:
            return ModelStatus("ocr", self.model_id, False, message=f"OCR engine not installed: {_INSTALL}")
        for path in (self.rec_model, self.rec_keys):
            if path is not None and not path.is_file():
                return ModelStatus("ocr", self.model_id, False, message=f"OCR recognition file missing: {path}")
        if self.rec_model is not None:
            return ModelStatus("ocr", self.model_id, True, message=f"OCR recognition model: {self.rec_model}")
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
            det_cfg = {
                **config["Det"],
                "box_thresh": self.box_thresh,
                "thresh": self.pixel_thresh,
                "intra_op_num_threads": threads,
            }
            rec_cfg = {**config["Rec"], "rec_batch_num": self.rec_batch, "intra_op_num_threads": threads}
            if self.rec_model is not None:
                rec_cfg["model_path"] = str(self.rec_model)
            if self.rec_keys is not None:
                rec_cfg["rec_keys_path"] = str(self.rec_keys)
            try:
                det, rec = TextDetector(det_cfg), TextRecognizer(rec_cfg)
            except Exception as exc:  # onnxruntime raises its own types for unreadable models
                raise ModelUnavailableError(f"OCR models could not be loaded: {exc}", _INSTALL) from exc
            self._mean, self._std = det_cfg["mean"], det_cfg["std"]
            self._prep = DetPreProcess
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
        """Text quads (4×2, clockwise from top-left) in ``bgr``'s pixels, reading order, largest kept.

        Two stages on images larger than the gate: a cheap detector pass at ``gate_side`` finds whether
        and where anything text-like is (its probability map is empty on most photos without text); only
        the part of the image around those pixels is then detected at the full ``det_side`` scale.
        """
        h, w = bgr.shape[:2]
        if min(h, w) < 16:
            return []
        scale = min(1.0, self.det_side / max(h, w))  # enlarging did not find more small text
        x0, y0, x1, y1 = 0, 0, w, h
        if self.gate_side and max(h, w) * scale > self.gate_side * 1.2:
            prob = self._probability(bgr, self.gate_side)
            ys, xs = np.nonzero(prob > self.gate_thresh)
            if len(xs) == 0:
                return []
            fx, fy = w / prob.shape[1], h / prob.shape[0]
            margin = 32 + self.gate_margin * max(h, w)
            x0, x1 = max(0, int(xs.min() * fx - margin)), min(w, int((xs.max() + 1) * fx + margin))
            y0, y1 = max(0, int(ys.min() * fy - margin)), min(h, int((ys.max() + 1) * fy + margin))
        part = np.ascontiguousarray(bgr[y0:y1, x0:x1])
        side = max(32, round(max(part.shape[:2]) * scale))
        quads = self._quads(part, side)
        for q in quads:
            q += np.array([x0, y0], np.float32)
        if len(quads) > self.max_lines:
            quads = sorted(quads, key=lambda q: -cv2.contourArea(q.astype(np.float32)))[: self.max_lines]
        quads.sort(key=lambda q: (round(float(q[0][1]) / 10), float(q[0][0])))
        return quads

    def _probability(self, bgr: np.ndarray, side: int) -> np.ndarray:
        """The detector's text-probability map of ``bgr`` shrunk to ``side`` px on its long side."""
        tensor = self._prep(side, "max", self._mean, self._std)(bgr)
        return self._det.infer(tensor)[0][0, 0]

    def _quads(self, bgr: np.ndarray, side: int) -> list[np.ndarray]:
        h, w = bgr.shape[:2]
        if min(h, w) < 16:
            return []
        tensor = self._prep(side, "max", self._mean, self._std)(bgr)
        if tensor is None:
            return []
        preds = self._det.infer(tensor)[0]
        # The post-processor maps boxes from the probability map straight to the (h, w) it is given.
        boxes, _scores = self._det.postprocess_op(preds, (h, w))
        if boxes is None or len(boxes) == 0:
            return []
        return [
            q.astype(np.float32)
            for q in self._det.filter_tag_det_res(boxes, (h, w))
            if _short_side(q) >= self.min_box_px
        ]

    def release(self) -> None:
        """Free the sessions; the next read loads them again."""
        with self._load_lock, self._infer_lock:
            self._det = self._rec = None


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
