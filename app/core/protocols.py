"""What the pipeline needs from models: the real ones live in app.ml, tests pass fakes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
from PIL import Image

from app.core.models import Detection, ModelStatus, TextLine


class ImageEncoder(Protocol):
    model_id: str
    forward_seconds: float

    def status(self) -> ModelStatus: ...

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray: ...


class Detector(Protocol):
    model_id: str
    forward_seconds: float

    def status(self) -> ModelStatus: ...

    def detect(self, images: Sequence[Image.Image]) -> list[list[Detection]]: ...


class TextEncoder(Protocol):
    """The CLIP text tower: vectors in the same space as the image encoder of the same ``model_id``."""

    model_id: str

    def status(self) -> ModelStatus: ...

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray: ...


class TextReader(Protocol):
    """OCR: text lines with boxes (in the given image's pixels) and confidences, per image."""

    model_id: str
    forward_seconds: float

    def status(self) -> ModelStatus: ...

    def read(self, images: Sequence[Image.Image]) -> list[list[TextLine]]: ...
