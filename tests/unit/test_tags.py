"""Tags: detector labels with counts, calibrated zero-shot words, the user's word winning over re-indexing,
search by tag (alone, AND, with other queries), and the CLI.

Random-init models cannot say what is in a photo, so tags are tested by construction: a detector that
"sees" a person in red photos and a dog in blue ones, and text vectors set equal to a photo's vector.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from app.cli import main as cli_main
from app.core.errors import BadInputError
from app.core.models import Detection, ModelStatus, SearchQuery
from app.indexing.tagging import TAG_PROMPT, Calibration, describe, load_vocabulary, margins, pick
from app.storage.schema_tags import photo_tags
from tests.conftest import FakeEncoder
from tests.unit.test_colour import patch_photo


class ColourDetector:
    """Two persons and a tiny ball in a mostly red photo, one dog in a mostly blue one, nothing otherwise."""

    def __init__(self, model_id: str = "colour-detector") -> None:
        self.model_id = model_id
        self.forward_seconds = 0.0

    def status(self) -> ModelStatus:
        return ModelStatus("detector", self.model_id, True, random_init=True)

    def detect(self, images):
        out = []
        for im in images:
            r, _, b = np.asarray(im.convert("RGB"), np.float32).reshape(-1, 3).mean(axis=0)
            w, h = im.width, im.height
            if r > b + 20:
                people = [Detection((0, 0, w / 2, h), "person", 0.8), Detection((w / 2, 0, w, h), "person", 0.6)]
                out.append([*people, Detection((1, 1, 6, 6), "sports ball", 0.4)])  # too small for a region
            elif b > r + 20:
                out.append([Detection((w / 4, h / 4, w / 2, h / 2), "dog", 0.7)])
            else:
                out.append([])
        return out


class HashTextEncoder:
    """A unit vector per text (seeded by its hash), except the texts given in ``table``."""

    def __init__(self, model_id: str, table: dict[str, np.ndarray] | None = None, dim: int = 48) -> None:
        self.model_id, self.table, self.dim = model_id, table or {}, dim

    def status(self) -> ModelStatus:
        return ModelStatus("clip", self.model_id, True, random_init=True)

    def encode_texts(self, texts):
        out = []
        for t in texts:
            if t in self.table:
                v = np.asarray(self.table[t], np.float32)
            else:
                v = np.random.default_rng(int(hashlib.sha1(t.encode()).hexdigest()[:8], 16)).standard_normal(self.dim)
            out.append(v / np.linalg.norm(v))
        return np.stack(out).astype(np.float32)


class NegatedEncoder(FakeEncoder):
    model_id = "fake-clip/v2"

    def encode_images(self, images):
        return -super().encode_images(images)


@pytest.fixture
def tag_dir(tmp_path: Path) -> Path:
    d = tmp_path / "tagged"
    for i in range(3):
        patch_photo(d / f"red_{i}.jpg", (220, 20, 20), seed=i, share=0.6)
        patch_photo(d / f"blue_{i}.jpg", (20, 40, 230), seed=10 + i, share=0.6)
    patch_photo(d / "grey.jpg", None, seed=50)
    return d


def _names(hits) -> list[str]:
    return sorted(Path(h.path).stem for h in hits)


def _vector_of(lib, path: Path) -> np.ndarray:
    photo = lib.repo.photo_by_path(str(path))
    index = lib.vectors.get(photo.clip_model)
    return index.vectors_of(lib.vectors.catalog.photo_regions(np.array([photo.id])))[0]


def test_detector_tags_with_counts_and_search_by_tag(open_library, tag_dir):
    lib = open_library(detector=ColourDetector())
    lib.index([tag_dir])
    info = lib.photo_tags(tag_dir / "red_0.jpg")
    person = next(t for t in info.tags if t.tag == "person")
    assert (person.source, person.count, person.score) == ("detector", 2, 0.8)
    assert person.model == f"{FakeEncoder.model_id}|colour-detector"
    assert info.summary == "2 persons, 1 sports ball"
    # The ball is too small to embed as a region, but it is a tag all the same.
    assert "sports ball" not in {r.label for r in lib.repo.regions_of(info.photo.id)}
    assert _names(lib.search(SearchQuery(tags=("sports ball",))).hits) == ["red_0", "red_1", "red_2"]
    assert _names(lib.search(SearchQuery(tags=("person",))).hits) == ["red_0", "red_1", "red_2"]
    dogs = lib.search(SearchQuery(tags=("Dog ",))).hits  # normalised: case and spaces
    assert _names(dogs) == ["blue_0", "blue_1", "blue_2"]
    assert all(h.kind == "object" and h.label == "dog" and h.box is not None for h in dogs)  # the dog's box
    assert lib.search(SearchQuery(tags=("person", "dog"))).hits == []  # several tags: all of them
    res = lib.search(SearchQuery(tags=("persons",)))
    assert res.hits == [] and any("did you mean: person" in n for n in res.notes)
    counts = {c.tag: c for c in lib.tag_counts()}
    assert counts["person"].photos == 3 and counts["person"].sources == {"detector": 3}


def test_user_tag_overrides_an_automatic_one_and_survives_a_re_index(tmp_path, tag_dir):
    from app.services import Library

    enc = FakeEncoder()
    with Library.open(tmp_path / "lib", create=True, encoder=enc, detector=ColourDetector()) as lib:
        lib.index([tag_dir])
        lib.remove_tag(tag_dir / "blue_0.jpg", "dog")
        lib.add_tag(tag_dir / "grey.jpg", "Holiday")
        lib.add_tag(tag_dir / "red_1.jpg", "dog")
        with pytest.raises(BadInputError):
            lib.remove_tag(tag_dir / "grey.jpg", "dog")  # it never had it
    # Another detector: every photo's region pass and detector tags are made again.
    with Library.open(tmp_path / "lib", encoder=enc, detector=ColourDetector("colour-detector-2")) as lib:
        stats = lib.index()
        assert stats.regions_done == 7
        with lib.repo.engine.connect() as conn:
            models = {r[0] for r in conn.execute(select(photo_tags.c.model).where(photo_tags.c.source == "detector"))}
        assert models == {f"{FakeEncoder.model_id}|colour-detector-2"}  # recomputed...
        assert _names(lib.search(SearchQuery(tags=("dog",))).hits) == ["blue_1", "blue_2", "red_1"]  # ...user wins
        info = lib.photo_tags(tag_dir / "blue_0.jpg")
        assert "dog" not in {t.tag for t in info.tags} and info.removed == ["dog"]
        assert _names(lib.search(SearchQuery(tags=("holiday",))).hits) == ["grey"]
        assert lib.photo_tags(tag_dir / "grey.jpg").tags[0].source == "user"
        # Adding back what was removed: the last word wins.
        lib.add_tag(tag_dir / "blue_0.jpg", "dog")
        assert "blue_0" in _names(lib.search(SearchQuery(tags=("dog",))).hits)


def test_zero_shot_tags_are_recomputed_after_a_model_change(tmp_path, tag_dir):
    from app.services import Library

    beach = TAG_PROMPT.format("beach")
    det = ColourDetector()
    with Library.open(tmp_path / "lib", create=True, encoder=FakeEncoder(), detector=det) as lib:
        lib.index([tag_dir])  # no text tower for the fake model: no zero-shot tags yet
        assert not any(t.source == "zeroshot" for t in lib.photo_tags(tag_dir / "red_0.jpg").tags)
        # "beach" is, by construction, exactly what red_0 looks like in model v1.
        lib.use_text_encoder(HashTextEncoder(FakeEncoder.model_id, {beach: _vector_of(lib, tag_dir / "red_0.jpg")}))
        assert lib.refresh_tags() == 7
        assert "beach" in {t.tag for t in lib.photo_tags(tag_dir / "red_0.jpg").tags}
        beach_v1 = _names(lib.search(SearchQuery(tags=("beach",))).hits)
        assert "red_0" in beach_v1
        red2_v1 = _vector_of(lib, tag_dir / "blue_2.jpg")
    # Model v2 (vectors negated): in v2 space, "beach" is what blue_2 looks like.
    v2 = NegatedEncoder()
    with Library.open(tmp_path / "lib", encoder=v2, detector=det) as lib:
        lib.use_text_encoder(HashTextEncoder(v2.model_id, {beach: -red2_v1}))
        lib.index()
        with lib.repo.engine.connect() as conn:
            rows = conn.execute(select(photo_tags).where(photo_tags.c.source == "zeroshot")).all()
        assert rows and all(r.model.startswith("fake-clip/v2|") for r in rows)
        beach_v2 = _names(lib.search(SearchQuery(tags=("beach",))).hits)
        assert "blue_2" in beach_v2 and beach_v2 != beach_v1
    # v3 has no text tower: the v2 zero-shot tags described vectors that are gone, so they go too.
    with Library.open(tmp_path / "lib", encoder=NegatedV3(), detector=det) as lib:
        lib.index()
        assert lib.search(SearchQuery(tags=("beach",))).hits == []
        assert _names(lib.search(SearchQuery(tags=("dog",))).hits) == ["blue_0", "blue_1", "blue_2"]


class NegatedV3(NegatedEncoder):
    model_id = "fake-clip/v3"


def test_zero_shot_picks_by_calibrated_margin_not_top_k():
    rng = np.random.default_rng(0)
    dim, n = 32, 200
    photos = rng.standard_normal((n, dim)).astype(np.float32)
    tags = rng.standard_normal((5, dim)).astype(np.float32)
    neutral = rng.standard_normal((3, dim)).astype(np.float32)
    photos[7] = tags[2] * 3 + photos[7] * 0.3  # photo 7 plainly shows tag 2
    tags[4] = neutral.mean(axis=0) * 5  # a tag that looks like every photo ("hub") is never picked
    m = margins(photos, tags, neutral)
    cal = Calibration.fit(m)
    picked = pick(m, cal, ["a", "b", "c", "d", "hub"])
    assert [t for t, _, _ in picked[7]][:1] == ["c"]
    assert sum(len(p) for p in picked) < n * 0.2  # most photos get no zero-shot tag: not a top-k
    assert not any(t == "hub" for p in picked for t, _, _ in p)
    again = Calibration.from_json(json.loads(json.dumps(cal.to_json())))
    assert np.allclose(again.mean, cal.mean, atol=1e-5)


def test_vocabulary_and_description():
    words = load_vocabulary()
    assert 250 <= len(words) <= 500 and {"beach", "snow", "sunset", "document", "screenshot", "food"} <= set(words)
    assert len(set(words)) == len(words)
    assert describe([("person", 2), ("dog", 1), ("bus", 3)]) == "2 persons, 1 dog, 3 buses"


def test_cli_tag_search_info_and_tags(tmp_path, tag_dir, capsys):
    from app.services import Library

    with Library.open(tmp_path / "lib", create=True, encoder=FakeEncoder(), detector=ColourDetector()) as lib:
        lib.index([tag_dir])
    base = ["--library", str(tmp_path / "lib")]
    capsys.readouterr()
    assert cli_main([*base, "search", "--tag", "dog", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert sorted(Path(r["path"]).stem for r in out["results"]) == ["blue_0", "blue_1", "blue_2"]
    assert all(r["kind"] == "object" and r["box"] and r["label"] == "dog" for r in out["results"])
    assert cli_main([*base, "tag", str(tag_dir / "blue_1.jpg"), "--remove", "dog", "--add", "puppy", "--json"]) == 0
    assert [t["tag"] for t in json.loads(capsys.readouterr().out)["tags"]] == ["puppy"]
    assert cli_main([*base, "search", "--tag", "dog", "--tag", "dog", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["results"]) == 2
    assert cli_main([*base, "info", str(tag_dir / "red_2.jpg"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["tag_summary"] == "2 persons, 1 sports ball" and info["tags"][0]["source"] == "detector"
    assert info["tags"][0]["count"] == 2 and info["colours"][0]["share"] > 0.3
    assert cli_main([*base, "tags", "--json"]) == 0
    counts = {t["tag"]: t for t in json.loads(capsys.readouterr().out)["tags"]}
    assert (
        counts["person"]["photos"] == 3 and counts["dog"]["photos"] == 2 and counts["puppy"]["sources"] == {"user": 1}
    )
    assert cli_main([*base, "tag", str(tag_dir / "grey.jpg"), "--remove", "cat"]) == 1
    assert "has no tag 'cat'" in capsys.readouterr().err


def test_tags_filter_text_and_image_queries(open_library, tag_dir):
    from app.search.text_query import prompt

    lib = open_library(detector=ColourDetector())
    lib.index([tag_dir])
    lib.use_text_encoder(HashTextEncoder(FakeEncoder.model_id, {prompt("x"): _vector_of(lib, tag_dir / "red_0.jpg")}))
    assert Path(lib.search(SearchQuery(text="x")).hits[0].path).stem == "red_0"
    dogs = lib.search(SearchQuery(text="x", tags=("dog",)))
    assert dogs.hits and set(_names(dogs.hits)) <= {"blue_0", "blue_1", "blue_2"}
    assert len(lib.search(SearchQuery(text="x", tags=("dog",), all=True)).hits) == 3
    by_image = lib.search(SearchQuery(image=str(tag_dir / "red_0.jpg"), tags=("person",), all=True)).hits
    assert _names(by_image) == ["red_0", "red_1", "red_2"] and by_image[0].kind == "exact"
    assert _names(lib.search(SearchQuery(image=str(tag_dir / "red_0.jpg"), tags=("dog",), all=True)).hits) == [
        "blue_0",
        "blue_1",
        "blue_2",
    ]


def test_photos_added_while_watching_get_their_tags(open_library, tag_dir, tmp_path):
    from tests.unit.test_watcher import settled, wait_until

    lib = open_library(detector=ColourDetector())
    lib.index([tag_dir])
    lib.start_watching(quiet_s=0.3, max_wait_s=3.0)
    try:
        wait_until(lambda: settled(lib), what="the start-up reconcile pass")
        patch_photo(tag_dir / "blue_new.jpg", (20, 40, 230), seed=31, share=0.6)
        wait_until(
            lambda: "blue_new" in _names(lib.search(SearchQuery(tags=("dog",))).hits), what="the new photo's tag"
        )
        assert Path(lib.search_colour("#1428e6").hits[0].path).stem.startswith("blue")
    finally:
        lib.stop_watching()


def test_an_edited_photo_gets_new_automatic_tags_and_keeps_the_users(open_library, tag_dir):
    from app.indexing.tagging import TAG_PROMPT

    lib = open_library(detector=ColourDetector())
    lib.index([tag_dir])
    beach = {TAG_PROMPT.format("beach"): _vector_of(lib, tag_dir / "red_0.jpg")}
    lib.use_text_encoder(HashTextEncoder(FakeEncoder.model_id, beach))
    lib.refresh_tags()
    lib.add_tag(tag_dir / "red_0.jpg", "holiday")
    assert {"person", "beach", "holiday"} <= {t.tag for t in lib.photo_tags(tag_dir / "red_0.jpg").tags}
    patch_photo(tag_dir / "red_0.jpg", (20, 40, 230), seed=5, share=0.7)  # now mostly blue: a dog
    lib.index()
    tags = {t.tag: t.source for t in lib.photo_tags(tag_dir / "red_0.jpg").tags}
    assert tags.get("dog") == "detector" and "person" not in tags and "beach" not in tags
    assert tags["holiday"] == "user"
