"""Crop search, exact path: what a user dropping a crop sees (no model weights involved)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.core.errors import BadInputError
from app.core.models import HitKind
from app.services import Library
from tests.conftest import make_photo
from tests.unit.crop_photos import textured_photo


def _jpeg(img: Image.Image, quality: int = 85) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - ix * iy
    return ix * iy / union


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    root = tmp_path_factory.mktemp("crop")
    photos = root / "photos"
    for i in range(5):
        textured_photo(photos / f"t{i}.jpg", seed=i)
    make_photo(photos / "plain.jpg", seed=50, size=(800, 600))  # smooth, few keypoints
    Image.new("RGB", (300, 200), (128, 128, 128)).save(photos / "blank.png")  # no keypoints at all
    (photos / "copy_of_t2.jpg").write_bytes((photos / "t2.jpg").read_bytes())
    lib = Library.open(root / "lib", create=True, encoder=None, detector=None)
    lib.index([photos])
    yield lib, photos
    lib.close()


def test_crop_is_found_first_with_its_box(library):
    lib, photos = library
    box = (300, 200, 520, 380)
    crop = Image.open(photos / "t3.jpg").crop(box).resize((176, 144))
    res = lib.search_image(_jpeg(crop, 75))
    top = res.hits[0]
    assert Path(top.path).name == "t3.jpg" and top.kind == HitKind.EXACT
    assert top.inliers is not None and top.inliers >= 15
    assert _iou(top.box, box) >= 0.8
    assert len(top.outline) == 4


@pytest.mark.parametrize("transpose", [Image.Transpose.ROTATE_90, Image.Transpose.FLIP_LEFT_RIGHT])
def test_rotated_and_mirrored_crops_are_found(library, transpose):
    lib, photos = library
    box = (100, 250, 360, 500)
    crop = Image.open(photos / "t1.jpg").crop(box).transpose(transpose)
    top = lib.search_image(_jpeg(crop)).hits[0]
    assert Path(top.path).name == "t1.jpg" and top.kind == HitKind.EXACT
    assert _iou(top.box, box) >= 0.8
    assert top.details.get("mirrored", False) == (transpose == Image.Transpose.FLIP_LEFT_RIGHT)


@pytest.mark.parametrize(("name", "angle"), [("t3.jpg", 30), ("t3.jpg", -50), ("t3.jpg", 135), ("t0.jpg", -50)])
def test_small_crop_of_a_turned_photo_is_verified(library, name, angle):
    """A 120 px crop of the photo turned by any angle (a small query is verified where it sits, turned)."""
    lib, photos = library
    turned = Image.open(photos / name).convert("RGB").rotate(angle, resample=Image.Resampling.BICUBIC)
    top = lib.search_image(_jpeg(turned.crop((340, 240, 460, 360)))).hits[0]
    assert Path(top.path).name == name and top.kind == HitKind.EXACT


def test_identical_copies_are_both_verified(library):
    lib, photos = library
    crop = Image.open(photos / "t2.jpg").crop((50, 60, 330, 300))
    names = {Path(h.path).name for h in lib.search_image(_jpeg(crop)).hits if h.kind == HitKind.EXACT}
    assert names == {"t2.jpg", "copy_of_t2.jpg"}


def test_small_crop_of_a_plain_area_is_found_by_the_dense_path(library):
    lib, photos = library
    box = (300, 200, 500, 350)  # 6 % of a smooth photo: too few stable keypoints for a homography
    crop = Image.open(photos / "plain.jpg").crop(box)
    hits = lib.search_image(_jpeg(crop, 90)).hits
    # Found first with its box, but not claimed as verified: correlation on a plain patch is not proof.
    assert Path(hits[0].path).name == "plain.jpg" and _iou(hits[0].box, box) >= 0.8
    assert hits[0].kind == HitKind.REGION and hits[0].details["method"] == "dense correlation"
    assert not [h for h in hits if h.kind == HitKind.EXACT]


def test_unrelated_image_gets_no_verified_hit(library, tmp_path):
    lib, _ = library
    other = textured_photo(tmp_path / "other.jpg", seed=999)
    res = lib.search_image(other)
    assert not [h for h in res.hits if h.kind == HitKind.EXACT]


def test_region_search_leaves_out_the_photo_it_was_cut_from(library):
    lib, photos = library
    pid = lib.repo.photo_by_path(str((photos / "t2.jpg").resolve())).id
    hits = lib.search_region(pid, (50, 60, 330, 300)).hits
    assert [Path(h.path).name for h in hits if h.kind == HitKind.EXACT] == ["copy_of_t2.jpg"]


def test_corrupt_query_is_a_clear_error(library, tmp_path):
    lib, _ = library
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    with pytest.raises(BadInputError, match=r"bad\.jpg"):
        lib.search_image(bad)
    env = dict(os.environ, SHOEBOX_LIBRARY="/nonexistent-default-library")
    out = subprocess.run(
        [sys.executable, "-m", "app", "--library", str(lib.paths.root), "search", "--image", str(bad)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert out.returncode != 0 and out.stderr.strip().count("\n") == 0 and "bad.jpg" in out.stderr


def test_deleted_photo_leaves_the_feature_index(tmp_path):
    photos = tmp_path / "photos"
    for i in range(2):
        textured_photo(photos / f"t{i}.jpg", seed=10 + i)
    crop = _jpeg(Image.open(photos / "t1.jpg").crop((200, 200, 450, 420)))
    with Library.open(tmp_path / "lib", create=True, encoder=None, detector=None) as lib:
        lib.index([photos])
        before = lib.features().get().ntotal
        assert Path(lib.search_image(crop).hits[0].path).name == "t1.jpg"
        (photos / "t1.jpg").unlink()
        lib.index()
        assert 0 < lib.features().get().ntotal < before
        assert not lib.search_image(crop).hits
    with Library.open(tmp_path / "lib", encoder=None, detector=None) as lib:  # reloaded from disk
        assert lib.features().get().ntotal < before
        assert np.isfinite(lib.features().get().ntotal)


def test_few_inlier_fit_stands_only_if_the_photo_looks_like_the_crop(tmp_path):
    """A tiny crop's 8-14 inliers are accepted on its own photo, never on a different one."""
    from app.imaging.local_features import gray
    from app.search.crop_verify import MIN_WARP_NCC, photometric_check

    own = Image.open(textured_photo(tmp_path / "own.jpg", seed=3))
    other = Image.open(textured_photo(tmp_path / "other.jpg", seed=4))
    x0, y0 = 410, 220
    query = gray(own.crop((x0, y0, x0 + 56, y0 + 48)).resize((336, 288), Image.Resampling.BICUBIC))
    # query frame (upscaled 6x) -> photo: scale down by 6 and move to where the crop was cut
    H = np.array([[1 / 6, 0, x0], [0, 1 / 6, y0], [0, 0, 1]], np.float64)
    assert photometric_check(query, gray(own), H) >= MIN_WARP_NCC
    assert photometric_check(query, gray(other), H) < MIN_WARP_NCC


def test_dense_hits_rank_after_verified_and_before_semantic_hits():
    from app.core.models import SearchHit
    from app.search.merge import merge_hits

    verified = SearchHit(1, "a.jpg", 0.7, HitKind.EXACT, inliers=20)
    dense = SearchHit(2, "b.jpg", 0.95, HitKind.REGION, details={"method": "dense correlation"})
    semantic = [SearchHit(3, "c.jpg", 0.99, HitKind.PHOTO), SearchHit(2, "b.jpg", 0.99, HitKind.OBJECT)]
    assert [(h.photo_id, h.kind) for h in merge_hits([dense, verified], semantic)] == [
        (1, HitKind.EXACT),
        (2, HitKind.REGION),
        (3, HitKind.PHOTO),
    ]


def test_few_matches_agreeing_on_one_placement_outvote_many_chance_matches():
    """A tiny crop holds few of its photo's index keypoints; they must still beat scattered chance matches."""
    from app.search.crop_vote import hough_vote

    rng = np.random.default_rng(0)
    n = 12  # query keypoints, in a 200 x 200 query frame
    q_xy = rng.uniform(0, 200, (n, 2)).astype(np.float32)
    q_shape = np.column_stack([rng.uniform(0, 360, n), rng.uniform(2, 20, n)]).astype(np.float32)
    # Photo 1: the first 4 query keypoints, rotated 90 degrees, half size, placed at (300, 100).
    turn, scale = np.deg2rad(90.0), 0.5
    rot = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
    true_xy = (q_xy[:4] - 100) @ rot.T * scale + [300, 100]
    true_geo = np.column_stack([true_xy, (q_shape[:4, 0] + 90) % 360, q_shape[:4, 1] * scale])
    # Photo 2: twice as many matches, at the same distance, with no common placement.
    chance_geo = np.column_stack([rng.uniform(0, 600, (8, 2)), rng.uniform(0, 360, 8), rng.uniform(1, 30, 8)])
    dist = np.full((n, 1), 10, np.int32)
    photo_ids = np.array([[1]] * 4 + [[2]] * 8, np.int64)
    geometry = np.vstack([true_geo, chance_geo]).astype(np.float32).reshape(n, 1, 4)
    rows = np.arange(n, dtype=np.int64).reshape(n, 1)
    cands = hough_vote(dist, photo_ids, rows, geometry, q_xy, q_shape, (200, 200), 40)
    assert [c.photo_id for c in cands][:1] == [1]
    assert cands[0].votes > 1.5 * cands[1].votes  # a plain count would give photo 2 twice the votes
    # ... and the place they agree on: the query's centre (100, 100) lands at (300, 100), half size, turned.
    cx, cy, s, t = cands[0].place
    assert abs(cx - 300) < 2 and abs(cy - 100) < 2 and abs(s - 0.5) < 0.02 and abs(t - turn) < 0.05


def test_large_library_index_finds_the_crop_and_forgets_deleted_photos(tmp_path, monkeypatch):
    """Past IVF_FROM codes the index is an IVF over the shipped vocabulary, filled from stored cells."""
    import app.storage.feature_index as fi
    from app.imaging.local_features import vocabulary

    if vocabulary() is None:
        pytest.fail("resources/crop_vocabulary.npy is missing (python -m benchmarks.train_crop_vocabulary)")
    monkeypatch.setattr(fi, "IVF_FROM", 100)
    photos = tmp_path / "photos"
    for i in range(3):
        textured_photo(photos / f"t{i}.jpg", seed=20 + i)
    crop = _jpeg(Image.open(photos / "t2.jpg").crop((150, 120, 420, 360)).resize((200, 178)))
    with Library.open(tmp_path / "lib", create=True, encoder=None, detector=None) as lib:
        lib.index([photos])
        assert lib.features().get().is_ivf
        top = lib.search_image(crop).hits[0]
        assert Path(top.path).name == "t2.jpg" and top.kind == HitKind.EXACT
        (photos / "t2.jpg").unlink()
        lib.index()
        assert not [h for h in lib.search_image(crop).hits if h.kind == HitKind.EXACT]


def _reshot(obj: Image.Image, background: Image.Image) -> Image.Image:
    """``obj`` photographed again: a close-up filling most of the frame, at an angle, lit unevenly, softer."""
    import cv2

    o = np.asarray(obj, np.float32)
    h, w = o.shape[:2]
    bw, bh = background.size
    corners = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    H = cv2.getPerspectiveTransform(corners, np.float32([[90, 60], [960, 40], [990, 720], [60, 700]]))
    warped = cv2.GaussianBlur(cv2.warpPerspective(o, H, (bw, bh)), (0, 0), 1.2)
    mask = cv2.warpPerspective(np.ones((h, w), np.float32), H, (bw, bh))[..., None]
    yy, xx = np.mgrid[0:bh, 0:bw].astype(np.float32)
    light = (0.75 + 0.5 * xx / bw * (0.8 + 0.4 * yy / bh))[..., None]  # a lamp to the right
    lit = 255 * (warped / 255) ** 1.2 * light + 5
    out = np.asarray(background, np.float32) * (1 - mask) + lit * mask
    return Image.fromarray(out.clip(0, 255).astype(np.uint8))


def test_photo_the_crop_was_cut_from_ranks_above_another_shot_with_more_inliers(tmp_path):
    """A close-up re-shot of the same poster matches more of the crop's detail than the source's
    downscaled working image; the source still comes first, as it agrees with the crop pixel for pixel."""
    photos = tmp_path / "photos"
    photos.mkdir()
    poster = Image.open(textured_photo(tmp_path / "poster.png", seed=41, size=(900, 700)))
    source = Image.open(textured_photo(tmp_path / "wall.jpg", seed=42, size=(3000, 2250))).copy()
    source.paste(poster, (1200, 800))
    source.save(photos / "source.jpg", quality=90)
    background = Image.open(textured_photo(tmp_path / "room.jpg", seed=43, size=(1024, 768)))
    _reshot(poster, background).save(photos / "reshot.jpg", quality=90)
    crop = source.crop((1200, 800, 2100, 1500)).resize((600, 467))
    with Library.open(tmp_path / "lib", create=True, encoder=None, detector=None) as lib:
        lib.index([photos])
        hits = lib.search_image(_jpeg(crop)).hits
    by_name = {Path(h.path).name: h for h in hits}
    assert {h.kind for h in hits} == {HitKind.EXACT} and set(by_name) == {"source.jpg", "reshot.jpg"}
    assert by_name["reshot.jpg"].inliers > by_name["source.jpg"].inliers  # inliers alone would mislead
    assert Path(hits[0].path).name == "source.jpg"
    assert by_name["source.jpg"].details["ncc"] > by_name["reshot.jpg"].details["ncc"]  # shown in details


def test_verified_hits_equally_close_in_pixels_are_ranked_by_inliers():
    from app.core.models import SearchHit
    from app.search.crop import rank_verified

    def hit(pid: int, inliers: int, ncc: float) -> SearchHit:
        return SearchHit(pid, f"{pid}.jpg", 0.9, HitKind.EXACT, inliers=inliers, details={"ncc": ncc})

    # 1 and 2: the same picture as far as pixels tell (a copy, a burst frame); 3: another shot, more inliers.
    ranked = rank_verified([hit(3, 400, 0.90), hit(1, 40, 0.998), hit(2, 60, 0.999)])
    assert [h.photo_id for h in ranked] == [2, 1, 3]


def _sunset(path: Path) -> Path:
    """Sky with soft clouds over dark hills: smooth colour, next to no keypoints."""
    import cv2

    w, h = 800, 600
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    sky = np.stack(
        [
            200 + 50 * np.sin(yy / h * 9 + xx / w * 2),
            120 + 70 * np.cos(yy / h * 7 - xx / w * 5),
            90 + 60 * np.sin(xx / w * 8 + yy / h * 3),
        ],
        -1,
    )
    clouds = cv2.GaussianBlur(np.random.default_rng(5).normal(0, 1, (h, w)).astype(np.float32), (0, 0), 18)
    sky += (clouds / clouds.std() * 12)[..., None]
    sky[yy > h * 0.7 + 30 * np.sin(xx / w * 9)] = (25, 20, 30)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(sky.clip(0, 255).astype(np.uint8)).save(path, quality=92)
    return path


def test_crop_with_almost_no_keypoints_is_found_by_its_colours_and_pixels(tmp_path):
    """No keypoint votes for the sky's photo; the colour shortlist brings it to the dense path."""
    photos = tmp_path / "photos"
    for i in range(4):
        textured_photo(photos / f"t{i}.jpg", seed=60 + i)
    box = (300, 60, 480, 210)
    crop = Image.open(_sunset(photos / "sunset.jpg")).crop(box)
    with Library.open(tmp_path / "lib", create=True, encoder=None, detector=None) as lib:
        lib.index([photos])
        assert not lib.exact_search(crop).candidates  # the vote has nothing to go on
        res = lib.search_image(_jpeg(crop))
    top = res.hits[0]
    assert Path(top.path).name == "sunset.jpg" and _iou(top.box, box) >= 0.8
    assert top.kind == HitKind.REGION and top.details["method"] == "dense correlation"  # not claimed verified
    assert any("little detail" in n for n in res.notes)


def test_flat_crop_says_the_results_are_uncertain(library):
    lib, _ = library
    res = lib.search_image(_jpeg(Image.new("RGB", (120, 90), (20, 20, 22))))
    assert not [h for h in res.hits if h.kind == HitKind.EXACT]
    assert any("almost no detail" in n and "uncertain" in n for n in res.notes)


def _sky(path: Path, seed: int, horizon: float) -> Path:
    """A cloudy sky over a dark band: smooth, next to no keypoints; the clouds differ per seed, the colours
    hardly at all."""
    import cv2

    w, h = 480, 360
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    sky = np.stack([150 + 40 * yy / h, 170 + 30 * yy / h, 215 - 20 * xx / w], -1)
    clouds = cv2.GaussianBlur(np.random.default_rng(seed).normal(0, 1, (h, w)).astype(np.float32), (0, 0), 9)
    sky += (clouds / clouds.std() * 10)[..., None]
    sky[yy > h * horizon] = (30, 35, 30)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(sky.clip(0, 255).astype(np.uint8)).save(path, quality=92)
    return path


def test_plain_crop_is_found_among_many_photos_of_the_same_colours(tmp_path):
    """Twenty skies of the same colours, all holding more of the crop's colours than its own photo: the
    colour shortlist puts the source last, the coarse screen of the thumbnails first."""
    photos = tmp_path / "photos"
    for i in range(20):
        _sky(photos / f"a{i:02d}.jpg", seed=i, horizon=0.95)
    source = _sky(photos / "z_source.jpg", seed=99, horizon=0.6)
    box = (150, 60, 260, 150)  # 6 % of the photo: sky and clouds only
    crop = Image.open(source).crop(box)
    with Library.open(tmp_path / "lib", create=True, encoder=None, detector=None) as lib:
        lib.index([photos])
        by_colour = lib._colour_shortlist(crop, 64, frozenset())
        source_id = next(p.id for p in lib.repo.photos_by_ids(by_colour).values() if p.path.endswith("z_source.jpg"))
        assert by_colour.index(source_id) >= 16  # beyond what the dense path could afford to try
        top = lib.search_image(_jpeg(crop, 90)).hits[0]
    assert Path(top.path).name == "z_source.jpg" and _iou(top.box, box) >= 0.8
    assert top.kind == HitKind.REGION and top.details["method"] == "dense correlation"


def test_screen_ignores_flat_areas_and_gives_the_scale():
    """Normalised correlation makes faint noise (a clear sky, a wall: a grey level or two of JPEG grain)
    look like texture: such places correlate 0.7 with anything. The crop is the photo's own pixels, so the
    screen only counts places of the crop's contrast; it ranks the photo holding the crop first and says
    at which scale."""
    import cv2

    from app.search.crop_screen import SIDE, screen

    rng = np.random.default_rng(3)
    textured = cv2.GaussianBlur(rng.normal(128, 40, (48, 64)).astype(np.float32), (0, 0), 1.5)
    other = cv2.GaussianBlur(rng.normal(128, 40, (48, 64)).astype(np.float32), (0, 0), 1.5)
    grain = cv2.GaussianBlur(np.round(20 + rng.normal(0, 2, (48, 64))).astype(np.float32), (3, 3), 0)
    crop = Image.fromarray(textured[10:30, 12:38].clip(0, 255).astype(np.uint8)).resize((130, 100))
    tiny = {1: grain, 2: textured, 3: other}
    screened, rest = screen(crop, [1, 3, 2], tiny.get)
    scores = {s.photo_id: s.score for s in screened}
    assert not rest and screened[0].photo_id == 2 and scores[2] > 0.9
    assert scores[1] < 0.0  # no place of the crop's contrast at all
    assert abs(screened[0].scale - 26 / SIDE) / (26 / SIDE) < 0.3


def test_same_pattern_in_another_photo_is_listed_but_not_exact(tmp_path):
    """A stop sign, a poster or a logo printed the same way in two photos: the homography fits both, but
    only the photo the crop was cut from agrees with it pixel for pixel around the pattern. The other is
    listed after it, as a region hit that says why, never as exact."""
    from app.search.crop import PATTERN_METHOD

    photos = tmp_path / "photos"
    photos.mkdir()
    sign = Image.open(textured_photo(tmp_path / "sign.png", seed=71, size=(300, 220)))
    a = Image.open(textured_photo(tmp_path / "a.jpg", seed=72, size=(1000, 750))).copy()
    a.paste(sign, (400, 300))
    a.save(photos / "a.jpg", quality=90)
    b = Image.open(textured_photo(tmp_path / "b.jpg", seed=73, size=(1000, 750))).copy()
    b.paste(sign.point(lambda v: int(255 * (v / 255) ** 1.3)), (150, 100))  # another light
    b.save(photos / "b.jpg", quality=90)
    crop = a.crop((340, 250, 760, 570))  # the sign and what is around it in a.jpg
    with Library.open(tmp_path / "lib", create=True, encoder=None, detector=None) as lib:
        lib.index([photos])
        hits = lib.search_image(_jpeg(crop)).hits
    by_name = {Path(h.path).name: h for h in hits}
    assert Path(hits[0].path).name == "a.jpg" and hits[0].kind == HitKind.EXACT
    other = by_name["b.jpg"]
    assert other.kind == HitKind.REGION and other.details["method"] == PATTERN_METHOD
    assert other.inliers and other.inliers >= 15
    assert _iou(other.box, (90, 50, 510, 370)) >= 0.8  # where the crop would sit in b.jpg


def test_crop_of_a_repeated_pattern_is_found_by_correlation(tmp_path):
    """Tiles, windows, a fence: the crop correlates as well with the next tile as with its own place, so
    the dense path's distinctiveness test cannot pass; a near-perfect correlation at full resolution
    still names the photo (only the same pixels agree that closely)."""
    import cv2

    photos = tmp_path / "photos"
    for i in range(3):
        textured_photo(photos / f"t{i}.jpg", seed=80 + i)
    field = cv2.GaussianBlur(np.random.default_rng(8).normal(0, 1, (80, 80)).astype(np.float32), (0, 0), 6)
    tile = (128 + field / field.std() * 30).clip(0, 255).astype(np.uint8)
    Image.fromarray(np.tile(tile, (4, 6))).convert("RGB").save(photos / "tiles.jpg", quality=95)
    box = (80, 80, 160, 160)
    crop = Image.open(photos / "tiles.jpg").crop(box)
    with Library.open(tmp_path / "lib", create=True, encoder=None, detector=None) as lib:
        lib.index([photos])
        top = lib.search_image(_jpeg(crop, 92)).hits[0]
    assert Path(top.path).name == "tiles.jpg"
    assert top.box is not None and abs((top.box[2] - top.box[0]) - 80) <= 8  # one tile, whichever
