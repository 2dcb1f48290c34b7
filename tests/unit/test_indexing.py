"""Indexing as a user sees it: photos become indexed, bad files are reported, re-runs are cheap."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from app.core.errors import BadInputError, LibraryBusyError
from app.core.models import PhotoState, RegionKind
from app.core.priority import QueryFirst
from app.core.progress import CancelToken
from app.services import Library
from tests.conftest import make_photo


def _photo_regions(lib: Library, path: Path):
    photo = lib.repo.photo_by_path(str(path.resolve()))
    assert photo is not None, path
    return photo, lib.repo.regions_of(photo.id)


def test_index_folder_indexes_photos_with_regions(open_library, photos_dir, fakes):
    lib = open_library()
    progress = []
    stats = lib.index([photos_dir], on_progress=progress.append)
    assert stats.indexed == 7 and stats.failed == 0
    st = lib.status()
    assert (st.photos, st.indexed, st.pending, st.failed) == (7, 7, 0, 0)
    assert st.regions_done == 7 and st.regions_pending == 0
    photo, regions = _photo_regions(lib, photos_dir / "img_0.jpg")
    assert (photo.width, photo.height) == (640, 480)
    kinds = sorted(r.kind for r in regions)
    assert kinds.count(RegionKind.PHOTO) == 1 and kinds.count(RegionKind.OBJECT) == 1
    assert kinds.count(RegionKind.TILE) == 4
    obj = next(r for r in regions if r.kind == RegionKind.OBJECT)
    assert obj.box == pytest.approx((160, 120, 480, 360), abs=1)  # photo pixels
    assert {p.phase for p in progress} >= {"scan", "fast", "regions"}
    assert progress[-1].done == progress[-1].total
    # every region has a vector, and FAISS holds exactly those
    assert st.vectors == st.regions == 7 * 6
    assert lib.paths.thumbnail_for(photo.content_hash).exists()
    assert not any(lib.paths.spool.glob("*.jpg")), "spool is emptied once the region pass ran"


def test_corrupt_files_are_reported_and_others_indexed(open_library, photos_dir):
    (photos_dir / "empty.jpg").write_bytes(b"")
    (photos_dir / "notes.png").write_text("this is not an image")
    good = (photos_dir / "img_1.jpg").read_bytes()
    (photos_dir / "truncated.jpg").write_bytes(good[: len(good) // 3])
    lib = open_library()
    stats = lib.index([photos_dir])
    failed = dict(stats.failures)
    assert set(failed) == {str((photos_dir / n).resolve()) for n in ("empty.jpg", "notes.png", "truncated.jpg")}
    assert "empty" in failed[str((photos_dir / "empty.jpg").resolve())]
    assert "not an image" in failed[str((photos_dir / "notes.png").resolve())]
    assert "truncated" in failed[str((photos_dir / "truncated.jpg").resolve())]
    st = lib.status()
    assert (st.indexed, st.failed) == (7, 3)
    # A failed file is not retried while it stays the same.
    again = lib.index([photos_dir])
    assert again.failed == 0 and again.indexed == 0 and again.unchanged == 10


def test_second_run_does_no_model_work_and_touch_rechecks_one(open_library, photos_dir, fakes):
    enc, det = fakes
    lib = open_library()
    lib.index([photos_dir])
    before = (enc.images_encoded, sum(det.calls))
    stats = lib.index([photos_dir])
    assert (stats.indexed, stats.unchanged) == (0, 7)
    assert (enc.images_encoded, sum(det.calls)) == before

    target = photos_dir / "img_2.jpg"
    st = target.stat()
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    stats = lib.index([photos_dir])
    assert (stats.changed, stats.indexed, stats.unchanged) == (1, 0, 6)  # same bytes: analysis kept
    assert (enc.images_encoded, sum(det.calls)) == before

    make_photo(target, seed=999)  # edited: new bytes
    stats = lib.index([photos_dir])
    assert (stats.changed, stats.indexed, stats.unchanged) == (1, 1, 6)
    assert enc.images_encoded > before[0]
    assert sum(det.calls) == before[1] + 1
    assert lib.status().vectors == 7 * 6


def test_moved_files_keep_their_embeddings_without_model_work(open_library, photos_dir, fakes):
    enc, _ = fakes
    lib = open_library()
    lib.index([photos_dir])
    old_photo, old_regions = _photo_regions(lib, photos_dir / "img_3.jpg")
    calls = enc.images_encoded
    (photos_dir / "moved").mkdir()
    shutil.move(photos_dir / "img_3.jpg", photos_dir / "moved" / "renamed.jpg")
    stats = lib.index([photos_dir])
    assert (stats.moved, stats.removed, stats.indexed) == (1, 0, 0)
    assert enc.images_encoded == calls
    photo, regions = _photo_regions(lib, photos_dir / "moved" / "renamed.jpg")
    assert photo.id == old_photo.id and [r.id for r in regions] == [r.id for r in old_regions]
    assert lib.repo.photo_by_path(str((photos_dir / "img_3.jpg").resolve())) is None
    assert lib.status().photos == 7


def test_deleted_photo_loses_its_vectors(open_library, photos_dir):
    lib = open_library()
    lib.index([photos_dir])
    _, regions = _photo_regions(lib, photos_dir / "img_4.jpg")
    (photos_dir / "img_4.jpg").unlink()
    stats = lib.index([photos_dir])
    assert stats.removed == 1
    index = lib.vectors.get(FAKE_MODEL)
    ids, _ = index.contents()
    assert not set(ids) & {r.id for r in regions}
    assert len(index) == lib.repo.embedding_count(FAKE_MODEL) == 6 * 6


FAKE_MODEL = "fake-clip/v1"


def test_faiss_files_are_rebuilt_identically_from_sqlite(tmp_path, photos_dir, fakes):
    enc, det = fakes
    with Library.open(tmp_path / "lib", create=True, encoder=enc, detector=det) as lib:
        lib.index([photos_dir])
        ids, vecs = lib.vectors.get(FAKE_MODEL).contents()
        files = [p for p in (tmp_path / "lib" / "indexes").iterdir()]
    assert files
    for f in files:
        f.unlink()
    with Library.open(tmp_path / "lib", encoder=enc, detector=det) as lib:
        st = lib.status()
        assert lib.vectors.rebuilt == [FAKE_MODEL]
        ids2, vecs2 = lib.vectors.get(FAKE_MODEL).contents()
    assert st.vectors == len(ids)
    np.testing.assert_array_equal(ids, ids2)
    np.testing.assert_array_equal(vecs, vecs2)
    assert sorted(p.name for p in (tmp_path / "lib" / "indexes").iterdir()) == sorted(f.name for f in files)
    # and once rebuilt, the next open loads the file instead of rebuilding
    with Library.open(tmp_path / "lib", encoder=enc, detector=det) as lib:
        lib.status()
        assert lib.vectors.rebuilt == []


def test_stale_faiss_file_is_rebuilt(tmp_path, photos_dir, fakes):
    enc, det = fakes
    with Library.open(tmp_path / "lib", create=True, encoder=enc, detector=det) as lib:
        lib.index([photos_dir])
    saved = {p.name: p.read_bytes() for p in (tmp_path / "lib" / "indexes").iterdir()}
    with Library.open(tmp_path / "lib", encoder=enc, detector=det) as lib:
        (photos_dir / "img_0.jpg").unlink()
        lib.index([photos_dir])
        n = lib.status().vectors
    for name, data in saved.items():  # an old file comes back (e.g. restored from a backup)
        (tmp_path / "lib" / "indexes" / name).write_bytes(data)
    with Library.open(tmp_path / "lib", encoder=enc, detector=det) as lib:
        assert lib.status().vectors == n == 6 * 6
        assert lib.vectors.rebuilt == [FAKE_MODEL]


def test_bad_paths_change_nothing(open_library, tmp_path, photos_dir):
    lib = open_library()
    with pytest.raises(BadInputError, match="no such folder"):
        lib.index([photos_dir, tmp_path / "nope"])
    with pytest.raises(BadInputError, match="not a folder"):
        lib.index([photos_dir / "img_0.jpg"])
    assert lib.folders() == [] and lib.status().photos == 0


def test_second_process_is_a_reader(open_library, photos_dir, tmp_path, fakes):
    lib = open_library()
    lib.index([photos_dir])
    other = Library.open(tmp_path / "lib", encoder=fakes[0], detector=fakes[1])
    try:
        assert not other.is_writer
        assert other.status().indexed == 7
        with pytest.raises(LibraryBusyError):
            other.index([photos_dir])
    finally:
        other.close()


def test_cancel_keeps_committed_work_and_resumes(open_library, tmp_path, fakes):
    d = tmp_path / "many"
    for i in range(80):
        make_photo(d / f"p{i:03d}.jpg", seed=i, size=(160, 120))
    lib = open_library()
    token = CancelToken()

    def on_progress(p):
        if p.phase == "fast" and p.done >= 16:
            token.cancel()

    stats = lib.index([d], on_progress=on_progress, cancel=token)
    assert stats.cancelled and 16 <= stats.indexed < 80
    first = stats.indexed
    st = lib.status()
    assert st.indexed == first and st.pending == 80 - first
    stats = lib.index([d])
    assert stats.indexed == 80 - first and lib.status().indexed == 80


def test_nested_folders_merge(open_library, photos_dir):
    lib = open_library()
    lib.index([photos_dir / "sub"])
    lib.index([photos_dir])
    assert [f.path for f in lib.folders()] == [str(photos_dir.resolve())]
    st = lib.status()
    assert st.photos == 7 and st.indexed == 7


def test_exif_orientation_gives_oriented_size(open_library, tmp_path):
    d = tmp_path / "o"
    make_photo(d / "rot.jpg", seed=5, size=(400, 300), exif_orientation=6)
    lib = open_library()
    lib.index([d])
    photo = lib.repo.photo_by_path(str((d / "rot.jpg").resolve()))
    assert (photo.width, photo.height, photo.state) == (300, 400, PhotoState.INDEXED)


def test_without_weights_photos_are_still_indexed(open_library, photos_dir):
    lib = open_library(encoder=None, detector=None)
    stats = lib.index([photos_dir])
    assert stats.indexed == 7
    st = lib.status()
    assert st.indexed == 7 and st.vectors == 0 and not st.models["clip"].available
    assert lib.repo.hashes_of(lib.repo.photo_by_path(str((photos_dir / "img_0.jpg").resolve())).id)


def test_timing_is_reported(open_library, photos_dir):
    lib = open_library()
    t = time.perf_counter()
    stats = lib.index([photos_dir])
    assert 0 < stats.fast_seconds + stats.regions_seconds <= time.perf_counter() - t


def test_region_pass_decodes_again_only_without_a_spool(open_library, photos_dir):
    from dataclasses import replace

    lib = open_library()
    lib.settings = replace(lib.settings, spool_limit_mb=0)
    stats = lib.index([photos_dir])
    assert stats.regions_done == 7 and stats.redecoded == 7
    lib2 = open_library("lib2")
    stats = lib2.index([photos_dir])
    assert stats.regions_done == 7 and stats.redecoded == 0


def test_region_pass_resumes_after_fast_only_run(open_library, photos_dir, fakes):
    lib = open_library()
    stats = lib.index([photos_dir], regions=False)
    st = lib.status()
    assert stats.indexed == 7 and (st.regions_done, st.regions_pending) == (0, 7)
    assert len(list(lib.paths.spool.glob("*.jpg"))) == 7
    stats = lib.index([photos_dir])
    assert (stats.indexed, stats.regions_done, stats.redecoded) == (0, 7, 0)
    assert lib.status().regions_pending == 0 and not list(lib.paths.spool.glob("*.jpg"))


def test_corrupt_database_is_a_clear_library_error(tmp_path):
    from app.core.errors import LibraryError

    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "shoebox.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(LibraryError, match="cannot open library database"):
        Library.open(tmp_path / "lib")


def test_indexing_steps_aside_while_a_search_runs(open_library, photos_dir):
    lib = open_library()
    finished = threading.Event()
    worker = threading.Thread(target=lambda: (lib.index([photos_dir]), finished.set()), daemon=True)
    with lib.priority.query():  # what Library.search holds while the user waits for results
        worker.start()
        time.sleep(0.8)
        assert not finished.is_set()
        assert lib.status().indexed == 0, "no photo is decoded while a search runs"
    worker.join(60)
    assert finished.is_set() and lib.status().indexed == 7
    assert lib.priority.waited_s > 0.3


def test_a_burst_of_searches_slows_indexing_but_never_stops_it():
    gate = QueryFirst(max_hold_s=0.2)
    with gate.query():
        t0 = time.monotonic()
        assert gate.wait_turn() == pytest.approx(0.2, abs=0.1)
        cancel = CancelToken()
        cancel.cancel()
        assert gate.wait_turn(cancel) < 0.1, "a cancelled pass does not wait"
        assert time.monotonic() - t0 < 0.5
    assert gate.wait_turn() == 0.0
