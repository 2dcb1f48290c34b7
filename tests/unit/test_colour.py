"""Colour search: descriptors from generated photos, ranking by a colour, palette similarity, back-fill."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.cli import main as cli_main
from app.core.errors import BadInputError
from app.core.models import SearchQuery
from app.imaging.colour import BINS, colour_descriptor, dominant_colours, histogram, parse_colour, query_weights
from tests.conftest import make_photo

PATCHES = {
    "dodgerblue": (30, 144, 255),
    "red": (230, 20, 20),
    "yellow": (250, 230, 30),
    "green": (20, 160, 40),
    "magenta": (220, 30, 220),
    "orange": (255, 140, 0),
}


def patch_photo(path: Path, rgb: tuple[int, int, int] | None, seed: int, share: float = 0.15) -> Path:
    """A photo-like background (muted, different per seed) with a solid patch of ``rgb`` over ``share`` of it."""
    make_photo(path, seed=seed)
    base = np.asarray(Image.open(path).convert("RGB"), np.float32)
    grey = base.mean(axis=2, keepdims=True)
    img = 0.35 * base + 0.65 * grey  # muted: the backgrounds vary but hold no strong colour
    if rgb is not None:
        h, w = img.shape[:2]
        rng = np.random.default_rng(seed)
        pw, ph = int(w * np.sqrt(share)), int(h * np.sqrt(share))
        x0, y0 = rng.integers(0, w - pw), rng.integers(0, h - ph)
        img[y0 : y0 + ph, x0 : x0 + pw] = rgb
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path, quality=92)
    return path


@pytest.fixture
def colour_dir(tmp_path: Path) -> Path:
    d = tmp_path / "colours"
    for i, (name, rgb) in enumerate(PATCHES.items()):
        patch_photo(d / f"{name}.jpg", rgb, seed=10 + i)
    patch_photo(d / "plain.jpg", None, seed=99)
    return d


def test_parse_colour_accepts_names_and_hex_and_refuses_the_rest():
    assert parse_colour("#1e90ff") == parse_colour("1E90FF") == parse_colour("DodgerBlue") == (30, 144, 255)
    assert parse_colour("#19f") == (17, 153, 255)
    assert parse_colour("sky blue") == parse_colour("skyblue") == (135, 206, 235)
    assert parse_colour("dark grey") == parse_colour("darkgray")
    assert parse_colour("rgb(1, 2, 3)") == (1, 2, 3)
    for bad in ("", "bluish", "#12345", "rgb(1,2)"):
        with pytest.raises(ValueError, match="colour"):
            parse_colour(bad)


def test_descriptor_is_64_bytes_of_shares():
    img = Image.new("RGB", (400, 300), (0, 0, 255))
    img.paste((255, 255, 255), (0, 0, 200, 300))  # half white
    d = colour_descriptor(img)
    assert len(d) == BINS and sum(d) == 255
    (blue, blue_share), (white, white_share) = dominant_colours(d)
    assert (blue_share, white_share) == (0.502, 0.498)
    assert int(blue[5:7], 16) > int(blue[1:3], 16) + 60 and white == "#dddddd"  # a blue bin, the lightest grey
    assert histogram(d) @ query_weights("blue") > 0.45 and histogram(d) @ query_weights("red") == 0
    assert abs(histogram(d).sum() - 1.0) < 1e-6


def test_colour_search_ranks_the_photo_with_that_colour_first(open_library, colour_dir):
    lib = open_library()
    lib.index([colour_dir])
    for name in PATCHES:
        hits = lib.search(SearchQuery(colour=name)).hits
        assert hits and Path(hits[0].path).stem == name, (name, [Path(h.path).stem for h in hits])
        assert hits[0].details["colour_share"] >= 0.05
    # The hex form finds the same photo; the muted photo holds less of any colour than its patch photo.
    assert Path(lib.search_colour("#1e90ff").hits[0].path).stem == "dodgerblue"
    for name in PATCHES:
        shares = {Path(h.path).stem: h.score for h in lib.search(SearchQuery(colour=name, all=True)).hits}
        assert shares.get("plain", 0.0) < 0.75 * shares[name], (name, shares)


def test_similar_palette_finds_the_photo_with_the_same_colours(open_library, tmp_path):
    d = tmp_path / "palettes"
    patch_photo(d / "red.jpg", PATCHES["red"], seed=1, share=0.4)
    patch_photo(d / "red_again.jpg", PATCHES["red"], seed=2, share=0.35)  # same colours, other content
    patch_photo(d / "blue.jpg", PATCHES["dodgerblue"], seed=3, share=0.4)
    patch_photo(d / "yellow.jpg", PATCHES["yellow"], seed=4, share=0.4)
    patch_photo(d / "plain.jpg", None, seed=5)
    lib = open_library()
    lib.index([d])
    hits = lib.similar_palette(d / "red.jpg").hits
    assert Path(hits[0].path).stem == "red_again" and hits[0].details["palette_similarity"] > 0.9
    assert all(Path(h.path).stem != "red" for h in hits)  # the photo itself is left out


def test_colour_filters_an_image_query_and_combines_with_tags(open_library, colour_dir):
    lib = open_library()
    lib.index([colour_dir])
    query = str(colour_dir / "plain.jpg")
    everything = lib.search(SearchQuery(image=query, all=True)).hits
    assert len(everything) >= 6
    red = lib.search(SearchQuery(image=query, colour="red", all=True)).hits
    assert [Path(h.path).stem for h in red] == ["red"]  # only the photo holding red is left
    lib.add_tag(colour_dir / "orange.jpg", "sunny")
    lib.add_tag(colour_dir / "yellow.jpg", "sunny")
    ranked = lib.search(SearchQuery(colour="yellow", tags=("sunny",))).hits
    assert [Path(h.path).stem for h in ranked] == ["yellow", "orange"][: len(ranked)] and ranked


def test_colours_back_filled_for_photos_indexed_before(open_library, colour_dir):
    from sqlalchemy import text

    lib = open_library()
    lib.index([colour_dir])
    with lib.repo.engine.begin() as conn:  # as if indexed by a Shoebox without colour search
        conn.execute(text("DELETE FROM photo_colours"))
    seen = []
    stats = lib.index(on_progress=seen.append)
    assert any("colour: descriptors added for 7 photos" in n for n in stats.notes)
    assert any(p.phase == "colour" and p.done == p.total == 7 for p in seen)  # long work shows progress
    assert Path(lib.search_colour("magenta").hits[0].path).stem == "magenta"


def test_bad_colour_is_one_clear_line_and_non_zero_exit(open_library, colour_dir, tmp_path, capsys):
    lib = open_library()
    lib.index([colour_dir])
    with pytest.raises(BadInputError, match="not a colour"):
        lib.search_colour("blurple")
    lib.close()
    capsys.readouterr()
    rc = cli_main(["--library", str(tmp_path / "lib"), "search", "--colour", "blurple", "--json"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc != 0 and len(err) == 1 and "not a colour: 'blurple'" in err[0]
    assert cli_main(["--library", str(tmp_path / "lib"), "search", "--color", "#1e90ff", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert Path(out["results"][0]["path"]).stem == "dodgerblue" and out["results"][0]["colour_share"] > 0.1


def test_a_colour_word_means_its_family_of_tones_and_never_grey(open_library, tmp_path):
    d = tmp_path / "family"
    patch_photo(d / "steel.jpg", (70, 130, 180), seed=1, share=0.3)  # a muted blue, far from CSS "blue"
    patch_photo(d / "grey.jpg", (128, 128, 135), seed=2, share=0.6)  # a faintly bluish grey
    patch_photo(d / "olive.jpg", (107, 142, 35), seed=3, share=0.3)
    lib = open_library()
    lib.index([d])
    assert [Path(h.path).stem for h in lib.search_colour("blue").hits] == ["steel"]
    assert [Path(h.path).stem for h in lib.search_colour("green").hits] == ["olive"]
    assert "grey" in [Path(h.path).stem for h in lib.search_colour("grey").hits]
