"""Planning what to index is a pure function of the disk and the database."""

from __future__ import annotations

from app.core.models import Photo, PhotoState
from app.indexing.scanner import DiskFile, plan_changes, walk_folder
from tests.conftest import make_photo


def _photo(pid, path, size=10, mtime=1, state=PhotoState.INDEXED, clip="m"):
    return Photo(pid, path, size, mtime, state, content_hash=f"h{pid}", clip_model=clip)


def test_plan_sorts_files_into_new_changed_redo_missing_unchanged():
    disk = [
        DiskFile("/a", 10, 1, 1),
        DiskFile("/b", 11, 1, 1),
        DiskFile("/c", 10, 1, 1),
        DiskFile("/d", 10, 1, 1),
        DiskFile("/e", 10, 1, 1),
        DiskFile("/f", 10, 1, 1),
    ]
    known = [
        _photo(1, "/a"),
        _photo(2, "/b"),
        _photo(3, "/c", state=PhotoState.PENDING),
        _photo(4, "/d", clip="old"),
        _photo(5, "/e", state=PhotoState.FAILED, clip=None),
        _photo(6, "/gone"),
    ]
    plan = plan_changes(disk, known, clip_model="m")
    assert [f.path for f in plan.new] == ["/f"]
    assert [p.path for p, _ in plan.changed] == ["/b"]
    assert sorted(p.path for p in plan.redo) == ["/c", "/d"]
    assert [p.path for p in plan.missing] == ["/gone"]
    assert plan.unchanged == 2  # /a, and /e: failed with the same bytes is not retried


def test_without_a_model_missing_embeddings_are_not_redone():
    plan = plan_changes([DiskFile("/a", 10, 1, 1)], [_photo(1, "/a", clip=None)], clip_model=None)
    assert plan.unchanged == 1 and not plan.redo


def test_walk_skips_hidden_excluded_and_non_photos(tmp_path):
    make_photo(tmp_path / "a.jpg", 1, (64, 48))
    make_photo(tmp_path / "B.JPEG", 2, (64, 48))
    make_photo(tmp_path / ".hidden.jpg", 3, (64, 48))
    make_photo(tmp_path / ".thumbs" / "x.jpg", 4, (64, 48))
    make_photo(tmp_path / "@eaDir" / "y.jpg", 5, (64, 48))
    make_photo(tmp_path / "deep" / "er" / "z.png", 6, (64, 48))
    (tmp_path / "notes.txt").write_text("hi")
    (tmp_path / "link").symlink_to(tmp_path, target_is_directory=True)  # a loop, not followed
    found = sorted(f.path.rsplit("/", 1)[1] for f in walk_folder(tmp_path, 1, excludes=("@eaDir",)))
    assert found == ["B.JPEG", "a.jpg", "z.png"]
