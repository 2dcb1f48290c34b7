"""Verification at a known place: a tiny object crop checked against its photo enlarged there."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageFilter

from app.imaging.local_features import MAX_QUERY_KEYPOINTS, full_features, gray, query_frame
from app.search.crop_verify import photometric_check, verify_at
from tests.unit.crop_photos import textured_photo


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - ix * iy
    return ix * iy / union


def _photo_with_small_object(tmp_path):
    """A 640 x 480 photo with a 48 px detailed object (a badge) at (400, 150)."""
    img = Image.open(textured_photo(tmp_path / "p.jpg", seed=7, size=(640, 480))).convert("RGB")
    rng = np.random.default_rng(3)
    cells = rng.integers(0, 256, (24, 24, 3)).astype(np.uint8)
    badge = Image.fromarray(cells).resize((48, 48), Image.Resampling.NEAREST).filter(ImageFilter.GaussianBlur(0.7))
    img.paste(badge, (400, 150))
    return img, (400, 150, 448, 198)


def _query(img: Image.Image, box, side: int):
    crop = img.crop(box).resize((side, side), Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    crop.save(buf, "JPEG", quality=80)
    q = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    qgray, f = query_frame(q)  # a 34 px crop is upscaled ~10x for SIFT
    return full_features(qgray, MAX_QUERY_KEYPOINTS), qgray, (q.width * f, q.height * f)


def test_tiny_crop_verifies_at_its_place_with_the_right_box(tmp_path):
    img, box = _photo_with_small_object(tmp_path)
    feats, qgray, size = _query(img, box, 34)
    g = gray(img)
    # The place as a correlation finds it: a few pixels off, and the photo's working image at half size.
    half = np.ascontiguousarray(g[::2, ::2])
    place = tuple(v / 2 + 2 for v in box)
    v = verify_at(feats, size, half, place, photo_scale=2.0)
    assert v is not None and v.inliers >= 15
    assert _iou(v.box, box) >= 0.8  # in full-resolution photo pixels
    assert photometric_check(qgray, half, v.homography) > 0.9  # the homography maps into the working image


def test_verification_at_the_wrong_place_finds_nothing(tmp_path):
    img, box = _photo_with_small_object(tmp_path)
    feats, _, size = _query(img, box, 34)
    assert verify_at(feats, size, gray(img), (100, 300, 148, 348), photo_scale=1.0) is None


def test_dense_hits_as_close_in_correlation_are_ranked_by_colour():
    """A burst frame correlates as well as the source (exposure does not count); its colours are off."""
    from app.core.models import HitKind, SearchHit
    from app.search.crop_dense import rank_dense

    def hit(pid: int, ncc: float, offset: float) -> SearchHit:
        details = {"ncc": ncc, "colour_offset": offset}
        return SearchHit(photo_id=pid, path=f"/p/{pid}.jpg", score=ncc, kind=HitKind.REGION, details=details)

    burst, source, other = hit(1, 0.9933, 0.95), hit(2, 0.9899, 0.15), hit(3, 0.95, 0.0)
    assert [h.photo_id for h in rank_dense([burst, other, source])] == [2, 1, 3]
    # A sharper copy with its colours shifted correlates better still; the source keeps its colours.
    copy, source = hit(4, 0.9833, 30.4), hit(5, 0.9726, 0.21)
    assert [h.photo_id for h in rank_dense([copy, source])] == [5, 4]


def test_place_check_in_the_thumbnail_tells_the_true_place_from_a_chance_one(tmp_path):
    """Most vote candidates of a tiny crop are chance: their place is ruled out in the in-memory thumbnail,
    before the photo is decoded; the true place passes."""
    from app.search.crop_dense import place_query
    from app.search.crop_place import in_thumbnail as _in_thumbnail
    from app.search.crop_vote import Candidate

    img, box = _photo_with_small_object(tmp_path)
    _, qgray, size = _query(img, box, 34)
    tiny = (np.asarray(img.convert("L").resize((128, 96), Image.Resampling.BOX)), 128 / 640)
    scale = (box[2] - box[0]) / size[0]  # working pixels per query-frame pixel
    centre = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
    q = place_query(qgray)
    assert _in_thumbnail(q, size, Candidate(1, 1.0, (*centre, scale, 0.0)), tiny)
    assert not _in_thumbnail(q, size, Candidate(2, 1.0, (150.0, 350.0, scale, 0.6)), tiny)
    assert not _in_thumbnail(q, size, Candidate(3, 1.0, (*centre, scale, 1.2)), tiny)  # right place, wrong turn
