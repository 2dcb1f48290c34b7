"""Duplicates: copies turned by an arbitrary angle (black corners, or straightened and cropped) are `same`,
found through shared keypoints (bit-sampling LSH on their codes) and confirmed by a fit and the pixel
tests; other shots of the scene are not."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
from PIL import Image

from app.search.keypoint_lsh import candidate_pairs


def _scene(seed: int = 11, h: int = 480, w: int = 640) -> np.ndarray:
    import cv2

    rng = np.random.default_rng(seed)
    scene = np.zeros((h, w), np.float32)
    for cell in (4, 16, 64):  # foliage-like texture at a few scales
        noise = rng.normal(0, 1, (h // cell, w // cell)).astype(np.float32)
        scene += cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC) * cell
    return cv2.normalize(scene, None, 30, 220, cv2.NORM_MINMAX)


def _shot(scene: np.ndarray, dx: int, seed: int) -> Image.Image:
    """One exposure of the scene: an object placed at ``dx`` px, fresh sensor noise."""
    img = scene.copy()
    patch = _scene(5, 120, 160)
    img[200:320, 300 + dx : 460 + dx] = patch
    img += np.random.default_rng(seed).normal(0, 3, img.shape)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).convert("RGB")


def _straightened(im: Image.Image, angle: float, size: float) -> Image.Image:
    turned = im.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True)
    w, h = im.size
    c, s = abs(math.cos(math.radians(angle))), abs(math.sin(math.radians(angle)))
    f = min(w / (w * c + h * s), h / (w * s + h * c)) * 0.995
    cx, cy = turned.width / 2, turned.height / 2
    out = turned.crop((round(cx - f * w / 2), round(cy - f * h / 2), round(cx + f * w / 2), round(cy + f * h / 2)))
    return out.resize((round(w * size), round(h * size)), Image.Resampling.LANCZOS)


def _turned_set(tmp_path: Path) -> Path:
    d = tmp_path / "turned"
    d.mkdir()
    scene = _scene()
    first = _shot(scene, 0, 1)
    first.save(d / "shot1.jpg", quality=92)
    first.rotate(17, resample=Image.Resampling.BICUBIC, expand=True).save(d / "shot1_turned17.jpg", quality=90)
    _straightened(first, -5.0, 0.8).save(d / "shot1_straightened.jpg", quality=90)
    second = _shot(scene, 2, 2)  # the object moved by 2 px, new noise: another exposure
    second.save(d / "shot2.jpg", quality=92)
    second.rotate(17, resample=Image.Resampling.BICUBIC, expand=True).save(d / "shot2_turned17.jpg", quality=90)
    return d


def _names(group) -> list[str]:
    return sorted(p.path.rsplit("/", 1)[-1] for p in group.photos)


def test_turned_and_straightened_copies_are_same_with_the_angle_and_other_shots_are_not(open_library, tmp_path):
    d = _turned_set(tmp_path)
    lib = open_library()
    lib.index([d], regions=False)
    groups = lib.duplicates()
    same = {tuple(_names(g)): g for g in groups if g.tier == "same"}
    first = ("shot1.jpg", "shot1_straightened.jpg", "shot1_turned17.jpg")
    assert first in same, list(same)
    reasons = " | ".join(p.reason for p in same[first].pairs)
    angles = [abs(float(a)) for a in re.findall(r"turned (-?\d+\.\d)°", reasons)]
    assert any(abs(a - 17) < 0.5 for a in angles), reasons
    assert any(abs(a - 5) < 0.5 or abs(a - 12) < 0.5 or abs(a - 22) < 0.5 for a in angles), reasons
    # The second exposure (and its turned copy) is never in the first one's group.
    for names in same:
        assert not ({"shot2.jpg", "shot2_turned17.jpg"} & set(names) and "shot1.jpg" in names), names


def test_turned_check_rejects_another_exposure_and_accepts_the_copy(tmp_path):
    from app.imaging.local_features import index_features
    from app.imaging.turned_verify import Keypoints, verify_turned

    d = _turned_set(tmp_path)

    def load(name: str) -> tuple[np.ndarray, Keypoints]:
        im = Image.open(d / name).convert("RGB")
        f = index_features(im, im.width)
        thumb = im.convert("L")
        thumb.thumbnail((320, 320))
        k = thumb.width / im.width
        return np.asarray(thumb), Keypoints(f.codes, f.xy[:, :2] * k)

    a, ka = load("shot1.jpg")
    b, kb = load("shot1_turned17.jpg")
    c, kc = load("shot2_turned17.jpg")
    copy = verify_turned(a, b, ka, kb)
    assert copy.evidence.same, copy.evidence.why_not
    assert abs(abs(copy.angle) - 17) < 0.5 and copy.how and "turned" in copy.how
    other = verify_turned(a, c, ka, kc)
    assert not other.evidence.same
    assert "another shot" in (other.evidence.why_not or "")


def test_keypoint_candidates_match_brute_force_and_touch_only_new_rows():
    rng = np.random.default_rng(0)
    # 40 photos of 30 keypoints; photo 2k+1 repeats 20 of photo 2k's codes with a few bits flipped.
    codes = rng.integers(0, 256, (40, 30, 32), dtype=np.uint8)
    for k in range(0, 40, 2):
        flips = rng.random((20, 32 * 8)) < 0.02
        codes[k + 1, :20] = np.packbits(np.unpackbits(codes[k, :20], axis=1) ^ flips, axis=1)
    owner = np.repeat(np.arange(40), 30)
    a, b, votes = candidate_pairs(codes.reshape(-1, 32), owner, min_votes=3)
    blocks = codes.view(np.uint32)
    brute = {}
    for i in range(40):
        for j in range(i + 1, 40):
            v = sum(int(np.isin(blocks[i, :, k], blocks[j, :, k]).sum()) for k in range(8))
            if v >= 3:
                brute[(i, j)] = v
    assert {(int(x), int(y)): int(c) for x, y, c in zip(a, b, votes, strict=True)} == brute
    assert set(brute) == {(k, k + 1) for k in range(0, 40, 2)}
    a, b, _ = candidate_pairs(codes.reshape(-1, 32), owner, np.array([4]), min_votes=3)
    assert [(int(x), int(y)) for x, y in zip(a, b, strict=True)] == [(4, 5)]


def test_a_turned_copy_added_later_joins_its_original(open_library, tmp_path):
    """Incremental: the new photo is compared with the library, through shared keypoints too."""
    d = tmp_path / "later"
    d.mkdir()
    first = _shot(_scene(), 0, 1)
    first.save(d / "shot1.jpg", quality=92)
    lib = open_library()
    lib.index([d], regions=False)
    assert lib.duplicates("same") == []
    first.rotate(-31, resample=Image.Resampling.BICUBIC, expand=True).save(d / "turned.jpg", quality=90)
    lib.index([d], regions=False)
    (group,) = lib.duplicates("same")
    assert _names(group) == ["shot1.jpg", "turned.jpg"]
    assert "turned" in group.pairs[0].reason and "31.0°" in group.pairs[0].reason
