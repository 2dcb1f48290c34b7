"""Per-folder exclude patterns: what they match, and what the library does with them."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.errors import BadInputError
from app.indexing.scanner import matches_patterns, walk_folder
from tests.conftest import make_photo


@pytest.mark.parametrize(
    ("rel", "patterns", "excluded"),
    [
        ("a.tmp", ["*.tmp"], True),
        ("x/y/a.tmp", ["*.tmp"], True),  # a name pattern matches at any depth
        ("x/Screenshots/a.jpg", ["Screenshots"], True),  # a folder's whole content
        ("x/Screenshots2/a.jpg", ["Screenshots"], False),
        ("2019/drafts/a.jpg", ["2019/drafts"], True),  # a path pattern from the folder's root
        ("old/2019/drafts/a.jpg", ["2019/drafts"], False),
        ("raw/a.jpg", ["raw/*"], True),
        ("a.jpg", ["raw/*", "*.png"], False),
        ("a.jpg", ["/a.jpg/"], True),  # slashes around a pattern are ignored
    ],
)
def test_patterns_match_like_gitignore(rel: str, patterns: list[str], excluded: bool) -> None:
    assert matches_patterns(rel, patterns) is excluded


def test_walk_skips_what_patterns_exclude(tmp_path: Path) -> None:
    for rel in ("a.jpg", "b_edit.jpg", "Screenshots/c.jpg", "2019/drafts/d.jpg", "2019/e.jpg"):
        make_photo(tmp_path / rel, seed=len(rel), size=(64, 48))
    found = {Path(f.path).relative_to(tmp_path).as_posix() for f in walk_folder(tmp_path, 1, patterns=())}
    assert len(found) == 5
    kept = walk_folder(tmp_path, 1, patterns=["*_edit.jpg", "Screenshots", "2019/drafts"])
    assert {Path(f.path).relative_to(tmp_path).as_posix() for f in kept} == {"a.jpg", "2019/e.jpg"}
    # Walking a subfolder matches paths from the library folder, not from the subfolder.
    sub = walk_folder(tmp_path / "2019", 1, patterns=["2019/drafts"], base=str(tmp_path))
    assert {Path(f.path).name for f in sub} == {"e.jpg"}


def test_folder_excludes_take_photos_out_and_a_scan_brings_them_back(open_library, tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    for i in range(3):
        make_photo(folder / f"p{i}.jpg", seed=i, size=(120, 90))
        make_photo(folder / "Screenshots" / f"s{i}.jpg", seed=10 + i, size=(120, 90))
    lib = open_library()
    lib.index([folder])
    fid = lib.folders()[0].id
    assert lib.status().photos == 6
    assert len(lib.folder_excluded_photos(fid, ["Screenshots"])) == 3

    asked: list[int] = []
    assert lib.set_folder_excludes(fid, ["Screenshots"], lambda n, _s: asked.append(n) or False) == 0
    assert asked == [3] and lib.status().photos == 6 and lib.folder_excludes(fid) == ()

    assert lib.set_folder_excludes(fid, ["Screenshots", " *.tmp "], lambda n, _s: True) == 3
    assert lib.status().photos == 3 and lib.folder_excludes(fid) == ("Screenshots", "*.tmp")
    assert len(list((folder / "Screenshots").glob("*.jpg"))) == 3  # never off the disk
    lib.index()
    assert lib.status().photos == 3, "a scan keeps honouring the patterns"

    lib.close()
    again = open_library()
    assert again.folder_excludes(str(folder)) == ("Screenshots", "*.tmp")  # saved with the library
    assert again.set_folder_excludes(fid, []) == 0
    again.index()
    assert again.status().photos == 6


def test_bad_patterns_and_folders_are_one_clear_error(open_library, tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    make_photo(folder / "p.jpg", seed=1, size=(120, 90))
    lib = open_library()
    lib.index([folder])
    fid = lib.folders()[0].id
    for bad in ("../elsewhere", "a/../../b"):
        with pytest.raises(BadInputError, match="relative to the folder"):
            lib.set_folder_excludes(fid, [bad])
    with pytest.raises(BadInputError, match="not a folder of this library"):
        lib.set_folder_excludes(fid + 100, ["x"])
