"""Duplicates: tiers, keeper, trash/undo, "not a duplicate" (small generated photos, fake models)."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from app.core.errors import BadInputError
from app.search.duplicates import HashTable, find_candidates
from tests.conftest import make_photo


@pytest.fixture
def trash_home(tmp_path, monkeypatch):
    """Point the freedesktop trash at a temp folder: tests never touch the real user trash."""
    home = tmp_path / "xdg"
    home.mkdir()
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    return home / "Trash"


@pytest.fixture
def copies(tmp_path):
    d = tmp_path / "photos"
    orig = make_photo(d / "orig.jpg", seed=1, size=(800, 600))
    im = Image.open(orig)
    im.resize((400, 300), Image.Resampling.LANCZOS).save(d / "small.jpg", quality=80)
    ImageOps.mirror(im).save(d / "mirror.jpg", quality=90)
    make_photo(d / "other.jpg", seed=2, size=(800, 600))
    # Another "shot": same scene generator, shifted and with different noise.
    shot = np.asarray(im).astype(np.int16)
    shot = np.roll(shot, 60, axis=1) + np.random.default_rng(9).normal(0, 20, shot.shape).astype(np.int16)
    Image.fromarray(np.clip(shot, 0, 255).astype(np.uint8)).save(d / "shot2.jpg", quality=90)
    shutil.copy(d / "orig.jpg", d / "copy_of_orig.jpg")
    return d


def _groups(lib, tier=None):
    return {g.tier: g for g in lib.duplicates(tier)}, lib.duplicates(tier)


def _names(group):
    return sorted(p.path.rsplit("/", 1)[-1] for p in group.photos)


def test_resized_and_mirrored_copies_are_same_and_other_shots_are_not(open_library, copies):
    lib = open_library()
    lib.index([copies], regions=False)
    groups = lib.duplicates()
    same = [g for g in groups if g.tier == "same"]
    assert len(same) == 1
    assert _names(same[0]) == ["copy_of_orig.jpg", "mirror.jpg", "orig.jpg", "small.jpg"]
    transforms = {p.transform for p in same[0].pairs if p.tier == "same"}
    assert "phash_mirror" in transforms
    assert all("shot2.jpg" not in p.path and "other.jpg" not in p.path for g in same for p in g.photos)
    keeper = same[0].keeper
    assert keeper is not None and keeper.path.endswith(("orig.jpg", "copy_of_orig.jpg"))
    assert "largest" in same[0].reason or "file" in same[0].reason or "path" in same[0].reason
    assert [g.tier for g in lib.duplicates("identical")] == []  # the identical pair sits inside the same group


def test_identical_bytes_form_an_identical_group(open_library, tmp_path):
    d = tmp_path / "p"
    make_photo(d / "a.jpg", seed=5)
    shutil.copy(d / "a.jpg", d / "b.jpg")
    make_photo(d / "c.jpg", seed=6)
    lib = open_library()
    lib.index([d], regions=False)
    (g,) = lib.duplicates()
    assert g.tier == "identical" and _names(g) == ["a.jpg", "b.jpg"]
    assert g.pairs[0].reason == "identical bytes"


def test_trash_refuses_last_copy_and_undo_restores_bytes(open_library, copies, trash_home):
    lib = open_library()
    lib.index([copies], regions=False)
    (same,) = lib.duplicates("same")
    keeper = same.keeper.path
    others = [p.path for p in same.photos if not p.keep]
    with pytest.raises(BadInputError, match="every copy"):
        lib.trash([p.path for p in same.photos])
    with pytest.raises(BadInputError, match="no copy"):
        lib.trash([str(copies / "other.jpg")])
    before = {p: Path(p).read_bytes() for p in others}
    assert lib.trash(others) == others
    assert not any((copies / p.rsplit("/", 1)[-1]).exists() for p in others)
    assert (copies / keeper.rsplit("/", 1)[-1]).exists()
    assert len(list((trash_home / "files").iterdir())) == len(others)
    assert lib.duplicates("same") == []
    lib.undo()
    assert {p: Path(p).read_bytes() for p in others} == before
    assert not list((trash_home / "info").iterdir())
    (same,) = lib.duplicates("same")
    assert len(same.photos) == 4
    with pytest.raises(BadInputError, match="nothing to undo"):
        lib.undo()


def test_protected_folder_is_never_trashed(open_library, copies, trash_home):
    lib = open_library()
    lib.index([copies], regions=False)
    lib.protect_folder(copies)
    with pytest.raises(BadInputError, match="protected"):
        lib.trash([str(copies / "small.jpg")])
    assert (copies / "small.jpg").exists()


def test_not_a_duplicate_stays_hidden_after_rescan(open_library, copies):
    lib = open_library()
    lib.index([copies], regions=False)
    lib.not_duplicate(copies / "orig.jpg", copies / "small.jpg")
    lib.not_duplicate(copies / "copy_of_orig.jpg", copies / "small.jpg")
    lib.not_duplicate(copies / "mirror.jpg", copies / "small.jpg")
    (Image.open(copies / "orig.jpg").resize((300, 225))).save(copies / "new_export.jpg")
    lib.index([copies], regions=False)
    groups = lib.duplicates("same")
    small = [g for g in groups if any(p.path.endswith("/small.jpg") for p in g.photos)]
    for g in small:  # only through the new export may it still group
        assert all(not (pr.a.endswith("small.jpg") and pr.b.endswith(("orig.jpg", "mirror.jpg"))) for pr in g.pairs)
        assert all(not (pr.b.endswith("small.jpg") and pr.a.endswith(("orig.jpg", "mirror.jpg"))) for pr in g.pairs)


def test_candidates_find_mirror_variant_and_skip_far_hashes():
    rng = np.random.default_rng(0)
    table = rng.integers(0, 2**63, size=(50, 17), dtype=np.int64).view(np.uint64)
    table[7, 4] = table[3, 0] ^ np.uint64(0b11)  # photo 7's mirror hash is 2 bits from photo 3
    table[9, 0] = table[3, 0] ^ np.uint64(0xFFFF)  # 16 bits: too far
    c = find_candidates(HashTable.from_arrays(np.arange(50), table))
    assert {(int(a), int(b), int(k)) for a, b, k in zip(c.a, c.b, c.kind, strict=True)} == {(3, 7, 4)}
    inc = find_candidates(HashTable.from_arrays(np.arange(50), table), np.array([7]))
    assert len(inc) == 1 and {int(inc.a[0]), int(inc.b[0])} == {3, 7}


def test_cli_dupes_json(open_library, copies, tmp_path, capsys):
    from app.cli import main

    lib = open_library()
    lib.index([copies], regions=False)
    lib.close()
    assert main(["--library", str(tmp_path / "lib"), "--clip-pretrained", "none", "dupes", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    (g,) = [g for g in out["groups"] if g["tier"] == "same"]
    assert sum(p["keep"] for p in g["photos"]) == 1 and g["reason"]


def test_another_shot_with_tiny_camera_motion_is_not_same():
    """A second shot of one scene (camera turned a little: slight shear and shift) is never `same`,
    while a resized re-encode of the first shot is."""
    import cv2

    from app.imaging.pair_verify import verify_pair

    rng = np.random.default_rng(3)
    scene = cv2.GaussianBlur(rng.integers(0, 255, (240, 320)).astype(np.uint8), (0, 0), 2.0)
    scene = cv2.normalize(scene, None, 0, 255, cv2.NORM_MINMAX)
    turn = np.float32([[1.0, 0.03, 2.5], [0.01, 1.0, -1.5]])
    shot2 = cv2.warpAffine(scene, turn, (320, 240), borderMode=cv2.BORDER_REFLECT)
    export = cv2.resize(scene, (200, 150), interpolation=cv2.INTER_AREA)
    assert verify_pair(scene, export).same
    ev = verify_pair(scene, shot2)
    assert not ev.same


def test_duplicates_reports_progress_of_the_comparison(open_library, copies):
    lib = open_library()
    lib.index([copies], regions=False)
    seen = []
    lib.duplicates(on_progress=seen.append)
    assert seen and seen[-1].phase == "compare" and seen[-1].done == seen[-1].total > 0


def _tripod_shots(tmp_path):
    """Two shots from a tripod: one textured scene, an object moved by 2 px, fresh sensor noise each time;
    plus a resized export and a watermarked copy of the first shot."""
    import cv2

    rng = np.random.default_rng(11)
    h, w = 480, 640
    scene = np.zeros((h, w), np.float32)
    for cell in (4, 16, 64):  # foliage-like texture at a few scales
        noise = rng.normal(0, 1, (h // cell, w // cell)).astype(np.float32)
        scene += cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC) * cell
    scene = cv2.normalize(scene, None, 30, 220, cv2.NORM_MINMAX)
    patch = cv2.GaussianBlur(rng.uniform(0, 255, (120, 160)).astype(np.float32), (0, 0), 2.0)

    def shot(dx: int, dy: int, seed: int) -> np.ndarray:
        img = scene.copy()
        img[200 + dy : 320 + dy, 300 + dx : 460 + dx] = patch
        img += np.random.default_rng(seed).normal(0, 3, img.shape)
        return np.clip(img, 0, 255).astype(np.uint8)

    d = tmp_path / "tripod"
    d.mkdir()
    first = Image.fromarray(shot(0, 0, 1)).convert("RGB")
    first.save(d / "shot1.jpg", quality=92)
    Image.fromarray(shot(2, 1, 2)).convert("RGB").save(d / "shot2.jpg", quality=92)
    first.resize((320, 240), Image.Resampling.LANCZOS).save(d / "shot1_small.jpg", quality=80)
    marked = np.asarray(first).copy()
    marked[420:460, 420:620] = (0.55 * marked[420:460, 420:620] + 0.45 * 255).astype(np.uint8)
    Image.fromarray(marked).save(d / "shot1_marked.jpg", quality=90)
    return d


def _thumb(path: Path) -> np.ndarray:
    im = Image.open(path).convert("L")
    im.thumbnail((320, 320))
    return np.asarray(im)


def test_tripod_shot_with_one_object_moved_is_not_same_but_copies_are(tmp_path):
    from app.imaging.pair_verify import verify_pair

    d = _tripod_shots(tmp_path)
    first = _thumb(d / "shot1.jpg")
    assert verify_pair(first, _thumb(d / "shot1_small.jpg")).same
    assert verify_pair(first, _thumb(d / "shot1_marked.jpg")).same
    ev = verify_pair(first, _thumb(d / "shot2.jpg"))
    assert not ev.same
    assert "another shot" in (ev.why_not or "")


def test_tripod_shots_are_similar_not_same_in_the_library(open_library, tmp_path):
    d = _tripod_shots(tmp_path)
    lib = open_library()
    lib.index([d], regions=False)
    groups = lib.duplicates()
    same = [g for g in groups if g.tier == "same"]
    assert len(same) == 1 and _names(same[0]) == ["shot1.jpg", "shot1_marked.jpg", "shot1_small.jpg"]
    similar = [g for g in groups if g.tier == "similar"]
    assert len(similar) == 1 and "shot2.jpg" in _names(similar[0])
    assert all(p.keep for p in similar[0].photos)  # nothing suggested for deletion
    assert any("another shot" in pr.reason for pr in similar[0].pairs)


def test_pixel_checks_are_not_repeated_and_linked_pairs_are_skipped(open_library, tmp_path, monkeypatch):
    import app.services.duplicates as service

    d = tmp_path / "p"
    orig = make_photo(d / "orig.jpg", seed=1, size=(800, 600))
    im = Image.open(orig)
    for i, size in enumerate([(640, 480), (400, 300), (320, 240)]):
        im.resize(size, Image.Resampling.LANCZOS).save(d / f"export{i}.jpg", quality=85)
    calls = []
    real = service.check_pixels
    monkeypatch.setattr(service, "check_pixels", lambda job: calls.append(job[2]) or real(job))
    lib = open_library()
    lib.index([d], regions=False)
    (g,) = lib.duplicates("same")
    assert len(g.photos) == 4
    assert len(calls) == 3  # one check per photo joining the group, not one per pair (6)
    calls.clear()
    lib._dupes.uncheck([p.photo_id for p in g.photos])  # as after a re-index: compared again...
    (g2,) = lib.duplicates("same")
    assert calls == [] and {p.path for p in g2.photos} == {p.path for p in g.photos}  # ...from stored verdicts


def test_copies_linked_through_a_trashed_one_stay_a_group(open_library, tmp_path, trash_home):
    d = tmp_path / "p"
    orig = make_photo(d / "orig.jpg", seed=1, size=(800, 600))
    im = Image.open(orig)
    for i, size in enumerate([(640, 480), (400, 300), (320, 240)]):
        im.resize(size, Image.Resampling.LANCZOS).save(d / f"export{i}.jpg", quality=85)
    lib = open_library()
    lib.index([d], regions=False)
    (g,) = lib.duplicates("same")
    assert len(g.pairs) == 3  # a tree: linked pairs were not checked
    degree = Counter(p for pr in g.pairs for p in (pr.a, pr.b))
    hub = max(degree, key=degree.get)  # the others were linked through it only
    lib.trash([hub])
    (g2,) = lib.duplicates("same")
    assert {p.path for p in g2.photos} == {p.path for p in g.photos} - {hub}


def test_keeper_rules_break_ties_left_by_earlier_rules():
    from app.core.dupes import DupePhoto
    from app.search.duplicates import choose_keeper

    mirrored = DupePhoto("/p/cat_mirrored.jpg", 1, 441, 331, 30_000, "JPEG")
    original = DupePhoto("/p/cat.jpg", 2, 441, 331, 41_000, "JPEG", taken_at="2019-05-01T10:00:00")
    small = DupePhoto("/p/cat_small.jpg", 3, 200, 150, 9_000, "JPEG")
    k, reason = choose_keeper([mirrored, small, original])
    assert k == 2, "two equally large copies: the one with camera metadata wins, not the first listed"
    assert "largest picture" in reason and "original rather than re-encoded" in reason


def test_pairs_judged_by_older_checks_are_judged_again_after_an_upgrade(open_library, copies):
    # A library scanned by an earlier Shoebox keeps its pairs; if those checks were weaker, a pair they
    # let through as `same` must not survive the upgrade. "Not a duplicate" decisions do.
    from sqlalchemy import delete, insert

    from app.storage.dupes_repo import DupesRepository
    from app.storage.schema import meta
    from app.storage.schema_dupes import dupe_pairs

    lib = open_library()
    lib.index([copies], regions=False)
    lib.not_duplicate(str(copies / "orig.jpg"), str(copies / "mirror.jpg"))
    before = sorted(_names(g) for g in lib.duplicates("same"))
    repo = DupesRepository(lib.repo.engine)
    hidden = repo.not_duplicate_hashes()
    ids = {p.path.rsplit("/", 1)[-1]: p.id for p in repo.indexed_photos().values()}
    with lib.repo.engine.begin() as conn:  # what an older version could have stored: another shot as `same`
        a, b = sorted((ids["other.jpg"], ids["shot2.jpg"]))
        conn.execute(delete(dupe_pairs).where((dupe_pairs.c.photo_a == a) & (dupe_pairs.c.photo_b == b)))
        conn.execute(insert(dupe_pairs).values(photo_a=a, photo_b=b, tier="same", distance=3, transform="phash"))
    assert any(_names(g) == ["other.jpg", "shot2.jpg"] for g in lib.duplicates("same")), "stored pairs are trusted"

    with lib.repo.engine.begin() as conn:  # ... as long as they were made by the current checks
        conn.execute(delete(meta).where(meta.c.key == "dupes:verify_version"))
    same = lib.duplicates("same")
    assert not any("other.jpg" in _names(g) for g in same)
    assert sorted(_names(g) for g in same) == before
    assert repo.not_duplicate_hashes() == hidden and hidden
