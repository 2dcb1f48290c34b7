"""Shared fixtures: generated photos, fake models (no weights), a library in a temp folder."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.core.models import Detection, ModelStatus

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("YOLO_OFFLINE", "1")


def make_photo(
    path: Path, seed: int, size: tuple[int, int] = (640, 480), exif_orientation: int | None = None, quality: int = 90
) -> Path:
    """A photo-like picture: smooth gradients plus a few shapes, different for every seed."""
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.zeros((h, w, 3), np.float32)
    for c in range(3):
        a, b, ph = rng.uniform(0.5, 4, 3)
        img[..., c] = 127 + 100 * np.sin(a * xx / w * np.pi + ph) * np.cos(b * yy / h * np.pi)
    for _ in range(6):
        x0, y0 = rng.integers(0, w - 40), rng.integers(0, h - 40)
        bw, bh = rng.integers(20, max(21, w // 3)), rng.integers(20, max(21, h // 3))
        img[y0 : y0 + bh, x0 : x0 + bw] = rng.uniform(0, 255, 3)
    img += rng.normal(0, 6, img.shape)
    pil = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in (".jpg", ".jpeg"):
        exif = Image.Exif()
        if exif_orientation:
            exif[0x0112] = exif_orientation
        pil.save(path, "JPEG", quality=quality, exif=exif)
    else:
        pil.save(path)
    return path


class FakeEncoder:
    """Deterministic image vectors from pixel content; counts every image it is given."""

    model_id = "fake-clip/v1"

    def __init__(self, dim: int = 48) -> None:
        self.dim = dim
        self.forward_seconds = 0.0
        self.calls: list[int] = []

    @property
    def images_encoded(self) -> int:
        return sum(self.calls)

    def status(self) -> ModelStatus:
        return ModelStatus("clip", self.model_id, True, random_init=True)

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        self.calls.append(len(images))
        out = np.stack(
            [np.asarray(im.convert("RGB").resize((4, 4)), np.float32).ravel()[: self.dim] - 127 for im in images]
        )
        out += 1e-3
        return out / np.linalg.norm(out, axis=1, keepdims=True)


class FakeDetector:
    """One fixed box in the middle of every image."""

    model_id = "fake-detector"

    def __init__(self) -> None:
        self.forward_seconds = 0.0
        self.calls: list[int] = []

    def status(self) -> ModelStatus:
        return ModelStatus("detector", self.model_id, True, random_init=True)

    def detect(self, images: Sequence[Image.Image]) -> list[list[Detection]]:
        self.calls.append(len(images))
        return [
            [Detection((im.width * 0.25, im.height * 0.25, im.width * 0.75, im.height * 0.75), "thing", 0.9)]
            for im in images
        ]


@pytest.fixture
def photos_dir(tmp_path: Path) -> Path:
    d = tmp_path / "photos"
    for i in range(6):
        make_photo(d / f"img_{i}.jpg", seed=i)
    make_photo(d / "sub" / "deep.png", seed=100, size=(300, 200))
    return d


@pytest.fixture
def fakes() -> tuple[FakeEncoder, FakeDetector]:
    return FakeEncoder(), FakeDetector()


@pytest.fixture
def open_library(tmp_path: Path, fakes):
    """Open (and later close) libraries under tmp_path with the fake models."""
    opened = []

    def _open(name: str = "lib", **kwargs):
        from app.services import Library

        kwargs.setdefault("encoder", fakes[0])
        kwargs.setdefault("detector", fakes[1])
        lib = Library.open(tmp_path / name, create=True, **kwargs)
        opened.append(lib)
        return lib

    yield _open
    for lib in opened:
        lib.close()
