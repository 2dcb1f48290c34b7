"""Decoding once and hashing: sizes, orientation, bad files, and hashes that match imagehash."""

from __future__ import annotations

import io

import imagehash
import numpy as np
import pytest
from PIL import Image, ImageOps

from app.imaging.decode import DecodeError, decode_bytes, decode_file
from app.imaging.hashes import PHASH_KINDS, compute_hashes
from tests.conftest import make_photo


def _signed(h: imagehash.ImageHash) -> int:
    v = int(str(h), 16)
    return v - (1 << 64) if v >= 1 << 63 else v


def _hamming(a: int, b: int) -> int:
    return bin((a ^ b) & ((1 << 64) - 1)).count("1")


def test_large_jpeg_is_drafted_to_work_size_and_keeps_full_size(tmp_path):
    p = make_photo(tmp_path / "big.jpg", seed=1, size=(4000, 3000))
    digest, d = decode_file(p, work_size=1024)
    assert max(d.image.size) == 1024 and d.image.mode == "RGB"
    assert (d.width, d.height) == (4000, 3000) and d.scale == pytest.approx(4000 / 1024)
    assert len(digest) == 32


def test_exif_orientation_is_applied(tmp_path):
    p = make_photo(tmp_path / "r.jpg", seed=2, size=(800, 400), exif_orientation=6)
    _, d = decode_file(p, work_size=1024)
    assert d.image.size == (400, 800) and (d.width, d.height) == (400, 800)


@pytest.mark.parametrize(
    ("data", "message"),
    [(b"", "empty"), (b"hello world" * 10, "not an image")],
)
def test_bad_bytes_raise_decode_error(data, message, tmp_path):
    p = tmp_path / "bad.jpg"
    p.write_bytes(data)
    with pytest.raises(DecodeError, match=message):
        decode_file(p)


def test_truncated_jpeg_is_reported(tmp_path):
    data = make_photo(tmp_path / "t.jpg", seed=3).read_bytes()
    with pytest.raises(DecodeError, match="truncated"):
        decode_bytes(data[: len(data) // 2])


def test_decompression_bomb_is_refused():
    buf = io.BytesIO()
    Image.new("L", (6000, 6000)).save(buf, "PNG")
    with pytest.raises(DecodeError, match="too large"):
        decode_bytes(buf.getvalue(), max_pixels=10_000_000)


def test_phash_matches_imagehash_for_every_transform(tmp_path):
    img = Image.open(make_photo(tmp_path / "h.jpg", seed=4)).convert("RGB")
    hashes, box = compute_hashes(img)
    assert box == (0, 0, img.width, img.height)
    t = Image.Transpose
    mirrored = ImageOps.mirror(img)
    transformed = {
        "phash": img,
        "phash_rot90": img.transpose(t.ROTATE_90),
        "phash_rot180": img.transpose(t.ROTATE_180),
        "phash_rot270": img.transpose(t.ROTATE_270),
        "phash_mirror": mirrored,
        "phash_mirror_rot90": mirrored.transpose(t.ROTATE_90),
        "phash_mirror_rot180": mirrored.transpose(t.ROTATE_180),
        "phash_mirror_rot270": mirrored.transpose(t.ROTATE_270),
    }
    assert set(transformed) == set(PHASH_KINDS)
    for kind, im in transformed.items():
        assert _hamming(hashes[kind], _signed(imagehash.phash(im))) <= 2, kind
        # a transformed copy's own hash is the original's variant: one lookup finds it
        assert _hamming(compute_hashes(im)[0]["phash"], hashes[kind]) <= 2, kind


def test_uniform_border_is_trimmed_before_hashing(tmp_path):
    img = Image.open(make_photo(tmp_path / "b.jpg", seed=5)).convert("RGB")
    framed = ImageOps.expand(img, border=60, fill=(255, 255, 255))
    h1, _ = compute_hashes(img)
    h2, box = compute_hashes(framed)
    assert box == pytest.approx((60, 60, 60 + img.width, 60 + img.height), abs=3)
    assert _hamming(h1["phash"], h2["phash"]) <= 4
    rng = np.random.default_rng(0)
    other = Image.fromarray(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8))
    assert _hamming(h1["phash"], compute_hashes(other)[0]["phash"]) > 16
