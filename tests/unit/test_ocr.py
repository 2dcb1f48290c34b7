"""Text in photos: read by the real bundled OCR engine in the background pass, found by words search."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from app.core.models import HitKind, SearchQuery
from tests.conftest import make_photo


def write_text_photo(
    path: Path, word: str, seed: int, size=(800, 600), at=(120, 200), px=48, orientation: int | None = None
) -> tuple[float, float, float, float]:
    """A generated photo with ``word`` printed on a light plate; returns the word's ink box as displayed."""
    make_photo(path, seed=seed, size=size)
    image = Image.open(path).convert("RGB")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(px)
    x0, y0, x1, y1 = draw.textbbox(at, word, font=font)
    draw.rectangle((x0 - 20, y0 - 16, x1 + 20, y1 + 16), fill=(245, 245, 240))
    draw.text(at, word, font=font, fill=(20, 20, 30))
    exif = Image.Exif()
    if orientation == 6:  # stored turned; viewers (and Shoebox) rotate it back for display
        image = image.transpose(Image.Transpose.ROTATE_90)
        exif[0x0112] = 6
    image.save(path, "JPEG", quality=90, exif=exif)
    return (float(x0), float(y0), float(x1), float(y1))


def overlap(a, b) -> float:
    """Intersection over the smaller box."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    return w * h / min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))


@pytest.fixture
def text_library(tmp_path, open_library):
    d = tmp_path / "photos"
    box = write_text_photo(d / "sign.jpg", "lantern", seed=1)
    make_photo(d / "plain_a.jpg", seed=2)
    make_photo(d / "plain_b.jpg", seed=3)
    lib = open_library()
    stats = lib.index([d])
    return lib, d, box, stats


def test_word_is_found_with_its_box_and_by_a_typo(text_library):
    lib, _, box, stats = text_library
    assert stats.ocr_done == 3 and stats.ocr_lines >= 1
    for query in ("lantern", "LANTIRN"):  # the word, and a one-letter typo of it
        hits = lib.search_words(query).hits
        assert [Path(h.path).name for h in hits] == ["sign.jpg"], query
        assert hits[0].kind == HitKind.TEXT and hits[0].box is not None
        assert overlap(hits[0].box, box) > 0.8
        # the box is around the word, not the whole photo
        assert (hits[0].box[2] - hits[0].box[0]) < 2 * (box[2] - box[0])
    assert lib.search_words("lantern").hits[0].score > lib.search_words("lantirn").hits[0].score


def test_photos_without_the_word_are_not_returned(text_library):
    lib, *_ = text_library
    assert lib.search_words("walrus").hits == []
    assert lib.search_words("lanterns and candles").hits == []
    info = lib.photo_info(text_library[1] / "plain_a.jpg")
    assert info.ocr_key is not None and info.lines == []


def test_plain_text_search_looks_in_photo_text_without_clip(tmp_path, open_library):
    d = tmp_path / "photos"
    write_text_photo(d / "receipt.jpg", "TOTAL 42.50", seed=4)
    make_photo(d / "other.jpg", seed=5)
    lib = open_library(encoder=None, detector=None)
    lib.index([d])
    results = lib.search(SearchQuery(text="total 42.50"))
    assert [Path(h.path).name for h in results.hits] == ["receipt.jpg"]
    assert any("words in photos only" in n and "CLIP weights" in n for n in results.notes)


def test_boxes_are_in_oriented_full_resolution_pixels(tmp_path, open_library):
    d = tmp_path / "photos"
    # 1600×1200 as displayed: the working image is 1024 px, so boxes must be scaled back up.
    box = write_text_photo(d / "turned.jpg", "harbour", seed=6, size=(1600, 1200), at=(700, 800), px=72, orientation=6)
    lib = open_library()
    lib.index([d])
    hit = lib.search_words("harbour").hits[0]
    photo = lib.photo_info(d / "turned.jpg").photo
    assert (photo.width, photo.height) == (1600, 1200)
    assert overlap(hit.box, box) > 0.8


def test_photos_indexed_before_ocr_are_read_by_the_next_run(tmp_path, open_library, fakes):
    d = tmp_path / "photos"
    write_text_photo(d / "sign.jpg", "meadow", seed=7)
    make_photo(d / "plain.jpg", seed=8)
    lib = open_library()
    lib.use_text_reader(None)
    first = lib.index([d])
    assert first.regions_done == 2 and first.ocr_done == 0
    lib.close()
    encoded = fakes[0].images_encoded
    lib = open_library()
    again = lib.index()
    assert again.ocr_done == 2 and again.regions_done == 0  # OCR only; regions stand
    assert fakes[0].images_encoded == encoded
    assert [Path(h.path).name for h in lib.search_words("meadow").hits] == ["sign.jpg"]
    assert lib.index().ocr_done == 0  # nothing left to read


def test_edited_and_deleted_photos_drop_their_old_text(tmp_path, open_library):
    d = tmp_path / "photos"
    write_text_photo(d / "a.jpg", "biscuit", seed=9)
    write_text_photo(d / "b.jpg", "pumpkin", seed=10)
    lib = open_library()
    lib.index([d])
    write_text_photo(d / "a.jpg", "orchard", seed=9)  # edited: new words
    (d / "b.jpg").unlink()
    lib.index()
    assert lib.search_words("biscuit").hits == []
    assert lib.search_words("pumpkin").hits == []
    assert [Path(h.path).name for h in lib.search_words("orchard").hits] == ["a.jpg"]


def test_cli_words_search_and_info(text_library, capsys):
    from app.cli import main

    lib, d, box, _ = text_library
    root = str(lib.paths.root)
    lib.close()
    assert main(["--library", root, "search", "--words", "lantern", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [Path(r["path"]).name for r in out["results"]] == ["sign.jpg"]
    assert out["results"][0]["kind"] == "text" and overlap(out["results"][0]["box"], box) > 0.8
    assert main(["--library", root, "info", str(d / "sign.jpg"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert any("lantern" in ln["text"].lower() for ln in info["lines"])
    assert all(len(ln["box"]) == 4 and 0 < ln["confidence"] <= 1 for ln in info["lines"])
    assert main(["--library", root, "info", str(d / "missing.jpg")]) == 1


def test_matching_tolerates_ocr_errors_but_not_unrelated_words():
    from app.search.words import match_photo
    from app.storage.ocr_repo import StoredLine, normalize

    def photo(*texts):
        return [
            StoredLine(i, 1, i, t, normalize(t), (0.0, 10.0 * i, 50.0, 10.0 * i + 8), 0.9) for i, t in enumerate(texts)
        ]

    def found(query, lines):
        return match_photo(normalize(query), lines, [normalize(w) for w in query.split()])

    assert found("wifi password", photo("WiFi:Password", "abc123")).text == "WiFi:Password"  # glued, punctuation
    split = found("wifi password", photo("Network WIFI", "password: hunter2"))  # over two lines
    assert split is not None and split.box == (0.0, 0.0, 50.0, 18.0)
    assert found("lemonade", photo("monade")) is not None  # OCR cut the first letters off
    assert found("$199.26", photo("99.26")) is not None
    assert found("düşünmek", photo("dusunmek")) is not None  # accents the bundled model cannot read
    assert found("yodel", photo("HOPDELUSION IMPERIAL IPA")) is None  # one edit is too many for 5 letters
    assert found("walrus", photo("walnut", "rust")) is None
    assert found("wifi password", photo("password")) is None  # half a phrase is not the phrase
    exact, typo = found("lighthouse", photo("LIGHTHOUSE")), found("lighthouse", photo("LIGHTH0USE"))
    assert exact.score > typo.score
