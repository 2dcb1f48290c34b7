"""Text and "similar" search, tested by construction (random-init models cannot test semantics).

The query vector is set equal to (or near) known stored vectors, so the right photo and box are known.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from app.cli import main as cli_main
from app.core.errors import BadInputError, ModelUnavailableError
from app.core.models import HitKind, ModelStatus, RegionKind, SearchQuery
from app.core.records import FastRecord, RegionPassRecord, RegionRecord
from app.search.semantic import LABEL_BOOST, knee_count
from app.search.text_query import combine, label_terms, prompt
from app.storage.vector_index import VectorIndex
from tests.conftest import FakeEncoder, make_photo

MODEL = FakeEncoder.model_id
DIM = 48


class FakeTextEncoder:
    """Maps prompted texts to given vectors; counts what it was asked."""

    def __init__(self, table: dict[str, np.ndarray], model_id: str = MODEL) -> None:
        self.table = {k: np.asarray(v, np.float32) / np.linalg.norm(v) for k, v in table.items()}
        self.model_id = model_id
        self.calls: list[list[str]] = []

    def status(self) -> ModelStatus:
        return ModelStatus("clip", self.model_id, True, random_init=True)

    def encode_texts(self, texts):
        self.calls.append(list(texts))
        return np.stack([self.table[t] for t in texts])


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v)).astype(np.float32)


def _rng_units(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.standard_normal((n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _synthetic(lib, photos: list[dict], size=(400, 300)) -> list[int]:
    """Photos straight into storage: {"vec": whole-photo vector, "regions": [RegionRecord...]}; returns ids."""
    folder = lib.repo.add_folder(str(lib.paths.root / "synthetic"))
    start = lib.repo.counts(None)["photos"]
    entries = [(str(lib.paths.root / "synthetic" / f"p{start + i:05d}.jpg"), 1, 1) for i in range(len(photos))]
    ids = lib.repo.insert_pending(folder.id, entries)
    pids = [ids[p] for p, _, _ in entries]
    fast = [
        FastRecord(
            pid, path, content_hash=f"hash{pid}", width=size[0], height=size[1], embedding=p["vec"], clip_model=MODEL
        )
        for pid, (path, _, _), p in zip(pids, entries, photos, strict=True)
    ]
    lib.vectors.apply(lib.repo.write_fast_batch(fast))
    regions = [
        RegionPassRecord(pid, f"{MODEL}|x", MODEL, p.get("regions", [])) for pid, p in zip(pids, photos, strict=True)
    ]
    lib.vectors.apply(lib.repo.write_region_batch(regions))
    return pids


def _with_text(lib, **texts: np.ndarray) -> FakeTextEncoder:
    enc = FakeTextEncoder({prompt(k.replace("_", " ")): v for k, v in texts.items()})
    lib.use_text_encoder(enc)
    return enc


# Ranking by construction


def test_query_equal_to_an_object_vector_finds_that_photo_with_the_object_box(open_library):
    lib = open_library()
    rng = np.random.default_rng(1)
    vecs = _rng_units(rng, 40)
    box = (120.0, 80.0, 220.0, 190.0)
    photos = [
        {
            "vec": vecs[i],
            "regions": [
                RegionRecord(RegionKind.OBJECT, (10, 10, 60, 60), "cat", 0.8, _rng_units(rng, 1)[0]),
                RegionRecord(RegionKind.TILE, (0, 0, 200, 150), embedding=_rng_units(rng, 1)[0]),
            ],
        }
        for i in range(40)
    ]
    target = _rng_units(rng, 1)[0]
    photos[17]["regions"].append(RegionRecord(RegionKind.OBJECT, box, "dog", 0.9, target))
    pids = _synthetic(lib, photos)
    _with_text(lib, a_small_dog=target)

    results = lib.search_text("a small dog")
    first = results.hits[0]
    assert first.photo_id == pids[17] and first.path.endswith("p00017.jpg")
    assert first.kind == HitKind.OBJECT and first.label == "dog"
    assert first.box == pytest.approx(box)
    assert first.score == pytest.approx(1.0 - 0.01 + LABEL_BOOST * 0.9, abs=2e-3)  # margin, then the "dog" boost
    assert first.details["label_boost"] is True
    assert len(results.hits) < 10, "unrelated random photos fall behind the knee"


def test_query_equal_to_a_tile_or_a_whole_photo(open_library):
    lib = open_library()
    rng = np.random.default_rng(2)
    vecs = _rng_units(rng, 30)
    tile = _rng_units(rng, 1)[0]
    photos = [
        {"vec": v, "regions": [RegionRecord(RegionKind.TILE, (0, 0, 200, 150), embedding=_rng_units(rng, 1)[0])]}
        for v in vecs
    ]
    photos[3]["regions"].append(RegionRecord(RegionKind.TILE, (200, 150, 400, 300), embedding=tile))
    pids = _synthetic(lib, photos)
    _with_text(lib, corner=tile, whole=vecs[9])

    hit = lib.search_text("corner").hits[0]
    assert (hit.photo_id, hit.kind, hit.box) == (pids[3], HitKind.REGION, (200.0, 150.0, 400.0, 300.0))
    hit = lib.search_text("whole").hits[0]
    assert (hit.photo_id, hit.kind, hit.box) == (pids[9], HitKind.PHOTO, None)
    assert hit.score == pytest.approx(1.0, abs=2e-3)


def test_whole_photo_wins_over_a_slightly_better_region(open_library):
    """A sub-region must beat the whole photo by more than its margin to take over the hit."""
    lib = open_library()
    rng = np.random.default_rng(3)
    q = _rng_units(rng, 1)[0]
    noise = _rng_units(rng, 2)
    whole = _unit(q + 0.30 * noise[0])
    region = _unit(q + 0.29 * noise[1])  # a hair closer to the query than the whole photo
    others = _rng_units(rng, 20)
    pids = _synthetic(
        lib,
        [{"vec": whole, "regions": [RegionRecord(RegionKind.TILE, (0, 0, 10, 10), embedding=region)]}]
        + [{"vec": v} for v in others],
    )
    _with_text(lib, query=q)
    hit = lib.search_text("query").hits[0]
    assert hit.photo_id == pids[0] and hit.kind == HitKind.PHOTO and hit.box is None
    assert hit.score == pytest.approx(float(whole @ q), abs=2e-3)


def test_cut_off_drops_the_far_tail_and_top_or_all_override_it(open_library):
    lib = open_library()
    rng = np.random.default_rng(4)
    q = _rng_units(rng, 1)[0]
    near = [_unit(q + 0.15 * n) for n in _rng_units(rng, 5)]
    far = _rng_units(rng, 120)
    pids = _synthetic(lib, [{"vec": v} for v in near] + [{"vec": v} for v in far])
    _with_text(lib, beach=q)

    hits = lib.search_text("beach").hits
    assert sorted(h.photo_id for h in hits) == sorted(pids[:5])
    assert len(lib.search_text("beach", top=12).hits) == 12
    assert len(lib.search_text("beach", all=True).hits) == 125
    assert len(lib.search(SearchQuery(text="beach", top=3, all=True)).hits) == 3


def test_unrelated_query_returns_few_photos(open_library):
    lib = open_library()
    rng = np.random.default_rng(5)
    _synthetic(lib, [{"vec": v} for v in _rng_units(rng, 300)])
    _with_text(lib, spaceship_interior=_rng_units(rng, 1)[0])
    hits = lib.search_text("spaceship interior").hits
    assert 1 <= len(hits) <= 40  # about a tenth of the library at most


def test_knee_count():
    assert knee_count(np.array([0.9, 0.89, 0.88, 0.3, 0.29, 0.28, 0.27, 0.26]))[0] == 3
    assert knee_count(np.array([0.5, 0.5, 0.5]))[0] == 3
    _, depth = knee_count(np.linspace(0.9, 0.1, 50))
    assert depth < 0.05  # a straight line has no knee


# Query parts


def test_prompt_template_and_label_terms():
    assert prompt("red  car") == "a photo of red car."
    assert prompt("A photo of my cat") == "A photo of my cat"
    terms = label_terms("Two dogs and a teddy bears on the sofa, people")
    assert {"dog", "teddy bear", "couch", "person"} <= terms
    assert label_terms("buses") >= {"bus"} and label_terms(None) == frozenset()


def test_combined_text_image_and_negation(open_library, photos_dir, fakes):
    lib = open_library()
    rng = np.random.default_rng(6)
    a, b, c = _rng_units(rng, 3)
    pids = _synthetic(
        lib,
        [{"vec": _unit(a + 0.2 * b)}, {"vec": _unit(a + 0.9 * b)}, {"vec": c}]
        + [{"vec": v} for v in _rng_units(rng, 30)],
    )
    enc = _with_text(lib, on_a_beach=a, indoors=b)
    plain = lib.search_text("on a beach", top=2).hits
    assert {h.photo_id for h in plain} == {pids[0], pids[1]}
    steered = lib.search(SearchQuery(text="on a beach", negative=("indoors",), top=2)).hits
    assert steered[0].photo_id == pids[0]
    np.testing.assert_allclose(combine([a], [b]), _unit(a - 0.5 * b), atol=1e-6)
    assert enc.calls[-1] == [prompt("on a beach"), prompt("indoors")]  # one batch for all texts

    # text + image: the image part is the fake image encoder's vector of the query file
    query_file = photos_dir / "img_2.jpg"
    from PIL import Image

    img_vec = fakes[0].encode_images([Image.open(query_file).convert("RGB")])[0]
    pids2 = _synthetic(lib, [{"vec": _unit(a + img_vec)}])
    hit = lib.search(SearchQuery(text="on a beach", image=str(query_file), top=1)).hits[0]
    assert hit.photo_id == pids2[0]
    with pytest.raises(BadInputError, match="empty query"):
        lib.search(SearchQuery(negative=("indoors",)))


# Similar photos


def test_similar_leaves_out_the_photo_and_its_copies(open_library, photos_dir):
    shutil.copy(photos_dir / "img_0.jpg", photos_dir / "copy_of_0.jpg")
    make_photo(photos_dir / "img_0_reencoded.jpg", seed=0, quality=70)  # same picture, other bytes
    lib = open_library()
    lib.index([photos_dir])
    res = lib.similar(photos_dir / "img_0.jpg", all=True)
    paths = [Path(h.path).name for h in res.hits]
    assert "img_0.jpg" not in paths and "copy_of_0.jpg" not in paths and "img_0_reencoded.jpg" not in paths
    assert len(paths) == 6 and all(h.kind == HitKind.PHOTO for h in res.hits)
    assert any("2 copies" in n for n in res.notes)
    with pytest.raises(BadInputError):
        lib.similar(photos_dir / "nope.jpg")


def test_similar_ranks_the_nearest_whole_photo_first(open_library):
    lib = open_library()
    rng = np.random.default_rng(7)
    base = _rng_units(rng, 1)[0]
    pids = _synthetic(
        lib,
        [{"vec": base}, {"vec": _unit(base + 0.3 * _rng_units(rng, 1)[0])}] + [{"vec": v} for v in _rng_units(rng, 40)],
    )
    hits = lib.similar(pids[0]).hits
    assert hits[0].photo_id == pids[1] and pids[0] not in {h.photo_id for h in hits}


# Models


class OtherFakeEncoder(FakeEncoder):
    model_id = "fake-clip/v2"

    def encode_images(self, images):
        return -super().encode_images(images)


def test_changing_the_model_re_embeds_and_never_mixes_vectors(tmp_path, photos_dir, fakes):
    from app.services import Library

    enc, det = fakes
    with Library.open(tmp_path / "lib", create=True, encoder=enc, detector=det) as lib:
        lib.index([photos_dir])
    other = OtherFakeEncoder()
    with Library.open(tmp_path / "lib", encoder=other, detector=det) as lib:
        query = photos_dir / "img_1.jpg"
        lib.use_text_encoder(FakeTextEncoder({prompt("x"): np.ones(DIM)}, model_id=other.model_id))
        before = lib.search_text("x")
        assert before.hits == [] and any("7 photos are not embedded with fake-clip/v2" in n for n in before.notes)
        stats = lib.index()
        assert stats.indexed == 7 and sum(other.calls) > 0
        assert lib.repo.embedding_count(MODEL) == 0 and lib.vectors.get(MODEL) is None
        assert lib.repo.embedding_count(other.model_id) == 7 * 6
        photos = lib.repo.photos_in_folders([f.id for f in lib.folders()])
        assert {p.clip_model for p in photos} == {other.model_id}
        assert {p.regions_key for p in photos} == {f"{other.model_id}|{det.model_id}"}
        hit = lib.search(SearchQuery(image=str(query), top=1)).hits[0]  # found in the new model's space
        assert Path(hit.path).name == "img_1.jpg"
        assert not any("not embedded" in n for n in lib.search_text("x").notes)


def test_text_encoder_with_another_model_id_is_refused(open_library):
    lib = open_library()
    _synthetic(lib, [{"vec": _unit(np.ones(DIM))}])
    lib.use_text_encoder(FakeTextEncoder({prompt("x"): np.ones(DIM)}, model_id="another/model"))
    with pytest.raises(ModelUnavailableError):
        lib.search_text("x")


def test_search_finds_photos_indexed_after_the_first_query(open_library, photos_dir, tmp_path):
    """The in-memory region catalog follows the writer's changes."""
    lib = open_library()
    lib.index([photos_dir])
    lib.use_text_encoder(FakeTextEncoder({prompt("x"): np.ones(DIM)}))
    lib.search_text("x")  # loads the catalog
    new = make_photo(photos_dir / "new.jpg", seed=77)
    (photos_dir / "img_5.jpg").unlink()
    lib.index([photos_dir])
    hit = lib.search(SearchQuery(image=str(new), top=1)).hits[0]
    assert Path(hit.path).name == "new.jpg"
    every = lib.search_text("x", all=True).hits
    assert "img_5.jpg" not in {Path(h.path).name for h in every} and len(every) == 7


# The CLI without weights


def test_cli_text_search_without_weights_says_how_to_get_them(tmp_path, photos_dir, capsys, monkeypatch):
    from huggingface_hub import constants

    from app.ml import weights

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-hf"))
    monkeypatch.setattr(weights, "_OPEN_CLIP_URL_CACHE", tmp_path / "empty-clip")
    lib = str(tmp_path / "lib")
    flags = [
        "--library",
        lib,
        "--clip-model",
        "ViT-B-32",
        "--clip-pretrained",
        "laion2b_s34b_b79k",
        "--detector",
        "nope.pt",
    ]
    assert cli_main([*flags, "index", str(photos_dir)]) == 0
    capsys.readouterr()
    assert cli_main([*flags, "search", "a dog on a beach"]) == 1
    err = capsys.readouterr().err
    assert "text search needs the CLIP weights" in err and "shoebox models --download" in err
    assert str(Path(lib).resolve() / "models" / "clip" / "ViT-B-32" / "laion2b_s34b_b79k") in err
    assert "huggingface.co/laion/" in err and err.count("\n") == 1

    assert cli_main([*flags, "search", "--image", str(photos_dir / "img_1.jpg"), "--json"]) == 0
    out = capsys.readouterr()
    assert isinstance(json.loads(out.out)["results"], list) and "semantic search is off" in out.err


def test_cli_search_json_shape(tmp_path, photos_dir, capsys):
    tiny = ["--clip-model", "shoebox-tiny", "--clip-pretrained", "none", "--detector", "yolo11n.yaml"]
    lib = str(tmp_path / "lib")
    assert cli_main(["--library", lib, *tiny, "index", str(photos_dir), "--fast-only"]) == 0
    capsys.readouterr()
    assert cli_main(["--library", lib, *tiny, "search", "a red car", "--not", "indoors", "--top", "3", "--json"]) == 0
    results = json.loads(capsys.readouterr().out)["results"]
    assert len(results) == 3
    for r in results:
        assert set(r) >= {"path", "score", "box", "kind"} and r["kind"] in ("photo", "object", "region")
    assert cli_main(["--library", lib, *tiny, "similar", str(photos_dir / "img_0.jpg"), "--json"]) == 0
    similar = json.loads(capsys.readouterr().out)["results"]
    assert similar and all(Path(r["path"]).name != "img_0.jpg" for r in similar)


# The text tower and the vector index


def test_text_only_encoder_matches_the_full_model_and_caches_queries(tmp_path):
    import torch

    from app.ml.clip import ClipEncoder
    from app.ml.runtime import import_open_clip

    open_clip = import_open_clip()
    torch.manual_seed(99)
    path = tmp_path / "tiny.pt"
    torch.save(open_clip.create_model("shoebox-tiny", pretrained=None).state_dict(), path)
    full = ClipEncoder("shoebox-tiny", str(path))
    text = ClipEncoder("shoebox-tiny", str(path), text_only=True, text_cache_size=2, forward_threads=1)
    texts = ["a photo of a dog.", "a photo of a red car."]
    threads = torch.get_num_threads()
    # only up to the end-of-text token, one thread: the same vectors as the full model's 77 positions
    np.testing.assert_allclose(text.encode_texts(texts), full.encode_texts(texts), atol=1e-5)
    assert torch.get_num_threads() == threads
    assert text.texts_encoded == 2 and text.text_cache_hits == 0
    again = text.encode_texts(["a photo of a dog."])
    assert text.texts_encoded == 2 and text.text_cache_hits == 1  # from the cache, no forward
    np.testing.assert_allclose(again[0], full.encode_texts(texts[:1])[0], atol=1e-5)
    text.encode_texts(["x", "y"])  # cache of 2: the dog is pushed out
    text.encode_texts(["a photo of a dog."])
    assert text.texts_encoded == 5
    with pytest.raises(ModelUnavailableError, match="texts only"):
        text.encode_images([])
    assert text._model is not None and not hasattr(text._model, "visual")


def test_large_index_becomes_ivf_and_keeps_ids_removal_and_files(tmp_path):
    rng = np.random.default_rng(8)
    centres = _rng_units(rng, 20)
    vecs = np.stack([_unit(centres[i % 20] + 0.3 * _rng_units(rng, 1)[0]) for i in range(3000)])
    ids = np.arange(3000, dtype=np.int64) * 3 + 11
    index = VectorIndex("m/x", DIM)
    index.add(ids, vecs)
    assert not index.compact(min_vectors=5000) and index.kind == "flat"
    assert index.compact(min_vectors=1000) and index.kind == "ivf" and len(index) == 3000
    scores, found = index.search(vecs[:50], 1)
    assert (found[:, 0] == ids[:50]).mean() >= 0.95 and scores[:, 0] == pytest.approx(1.0, abs=0.02)
    np.testing.assert_allclose(index.vectors_of(ids[:3]), vecs[:3], atol=0.02)
    assert np.isnan(index.vectors_of(np.array([5]))).all()
    assert index.remove([int(ids[0]), 5]) == 1 and len(index) == 2999
    index.add(np.array([7], np.int64), vecs[:1])
    index.save(tmp_path, generation=4)
    loaded = VectorIndex.load(tmp_path, "m/x", 4, 3000)
    assert loaded is not None and loaded.kind == "ivf"
    assert loaded.search(vecs[:1], 1)[1][0, 0] == 7
    got_ids, _ = loaded.contents()
    assert len(got_ids) == 3000 and ids[0] not in got_ids
    assert loaded.memory_bytes() < 3000 * DIM * 4
