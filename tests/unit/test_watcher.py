"""Live folders with a real watchdog observer on a temp folder: what a user sees change on its own."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from app.core.models import WatchStatus
from app.indexing.job_queue import ChangeQueue
from app.indexing.polling import RootPoller, filesystem_type, needs_polling, read_mounts
from tests.conftest import make_photo

FAKE_MODEL = "fake-clip/v1"


def wait_until(cond, timeout: float = 10.0, what: str = "condition") -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if cond():
            return time.monotonic() - t0
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def settled(lib) -> bool:
    st = lib.watch_status()
    return st.state == "idle" and st.queue_length == 0 and lib.status().regions_pending == 0


def photo(lib, path: Path):
    return lib.repo.photo_by_path(str(path.resolve()))


def model_calls(fakes) -> tuple[int, int]:
    enc, det = fakes
    return enc.images_encoded, sum(det.calls)


@pytest.fixture
def watched(open_library, tmp_path):
    """An indexed library over tmp/photos (6 small photos) that is being watched."""
    root = tmp_path / "photos"
    for i in range(6):
        make_photo(root / f"img_{i}.jpg", seed=i, size=(160, 120))
    lib = open_library()
    lib.index([root])
    statuses: list[WatchStatus] = []
    lib.start_watching(statuses.append, quiet_s=0.3, max_wait_s=3.0)
    wait_until(lambda: settled(lib), what="the start-up reconcile pass")
    yield lib, root, statuses
    lib.stop_watching()


def test_copied_in_photo_is_indexed_within_seconds(watched, tmp_path):
    lib, root, _ = watched
    src = make_photo(tmp_path / "outside" / "new.jpg", seed=77, size=(160, 120))
    t0 = time.monotonic()
    shutil.copy(src, root / "new.jpg")
    wait_until(lambda: (p := photo(lib, root / "new.jpg")) is not None and p.state == "indexed", what="new photo")
    assert time.monotonic() - t0 < 5
    wait_until(lambda: settled(lib))
    assert lib.status().vectors == 7 * 6  # photo + 1 object + 4 tiles each
    st = lib.watch_status()
    assert st.indexed == 1 and [(r.mode, r.photos) for r in st.roots] == [("watched", 7)]


def test_renamed_folder_of_50_keeps_all_embeddings_with_zero_model_calls(open_library, tmp_path, fakes):
    root = tmp_path / "photos"
    for i in range(50):
        make_photo(root / "album" / f"p{i:02d}.jpg", seed=i, size=(96, 64))
    lib = open_library()
    lib.index([root])
    before = {p.path.rsplit("/", 1)[1]: (p.id, p.content_hash) for p in lib.repo.photos_in_folders([1])}
    regions = {pid: [r.id for r in lib.repo.regions_of(pid)] for pid, _ in before.values()}
    vectors = lib.status().vectors
    lib.start_watching(quiet_s=0.3)
    wait_until(lambda: settled(lib))
    calls = model_calls(fakes)
    os.rename(root / "album", root / "Holidays 2024")
    wait_until(
        lambda: (
            len(lib.repo.photos_in_folders([1])) == 50
            and all("Holidays 2024" in p.path for p in lib.repo.photos_in_folders([1]))
        ),
        what="the renamed folder",
    )
    wait_until(lambda: settled(lib))
    assert model_calls(fakes) == calls
    after = {p.path.rsplit("/", 1)[1]: (p.id, p.content_hash) for p in lib.repo.photos_in_folders([1])}
    assert after == before
    assert {pid: [r.id for r in lib.repo.regions_of(pid)] for pid, _ in after.values()} == regions
    assert lib.status().vectors == vectors and lib.watch_status().moved == 50


def test_editor_style_save_reindexes_once(watched, fakes, tmp_path):
    lib, root, _ = watched
    target = root / "img_1.jpg"
    old = photo(lib, target)
    calls = model_calls(fakes)
    tmp = root / ".img_1.jpg.tmp-edit"  # write a temp file, then rename it over the photo
    tmp.write_bytes(make_photo(tmp_path / "edited.jpg", seed=1234, size=(160, 120)).read_bytes())
    os.replace(tmp, target)
    wait_until(lambda: photo(lib, target).content_hash != old.content_hash, what="the re-index")
    wait_until(lambda: settled(lib))
    time.sleep(1.0)  # late events must not cause a second pass
    assert settled(lib)
    # exactly one fast pass (1 image) and one region pass (1 detection, 5 region crops)
    assert model_calls(fakes) == (calls[0] + 1 + 5, calls[1] + 1)
    assert photo(lib, target).id == old.id and lib.status().photos == 6


def test_deleting_a_photo_removes_its_vectors(watched):
    lib, root, _ = watched
    gone = photo(lib, root / "img_4.jpg")
    region_ids = {r.id for r in lib.repo.regions_of(gone.id)}
    (root / "img_4.jpg").unlink()
    wait_until(lambda: photo(lib, root / "img_4.jpg") is None, what="the delete")
    ids, _ = lib.vectors.get(FAKE_MODEL).contents()
    assert not set(ids) & region_ids
    assert len(ids) == lib.repo.embedding_count(FAKE_MODEL) == 5 * 6


def test_removed_root_goes_offline_and_comes_back_without_reembedding(watched, tmp_path, fakes):
    lib, root, statuses = watched
    backup = tmp_path / "backup"
    shutil.copytree(root, backup)  # copy2: same bytes, same mtimes, as a drive that is plugged back
    ids = sorted(p.id for p in lib.repo.photos_in_folders([1]))
    calls = model_calls(fakes)
    shutil.rmtree(root)  # the drive is unplugged
    wait_until(lambda: lib.watch_status().roots[0].mode == "offline", what="offline")
    wait_until(lambda: settled(lib))
    time.sleep(0.6)  # the queued deletions of its files have had their quiet period
    st = lib.watch_status()
    assert st.removed == 0 and st.roots[0].photos == 6
    assert sorted(p.id for p in lib.repo.photos_in_folders([1])) == ids
    assert lib.status().vectors == 6 * 6
    staging = tmp_path / "staging"
    shutil.copytree(backup, staging)
    os.rename(staging, root)  # mounted again: the folder appears with everything in it
    wait_until(lambda: lib.watch_status().roots[0].mode == "watched", what="back online")
    wait_until(lambda: settled(lib))
    assert model_calls(fakes) == calls
    assert sorted(p.id for p in lib.repo.photos_in_folders([1])) == ids
    assert lib.watch_status().removed == 0 and lib.status().vectors == 6 * 6
    assert any(r.mode == "offline" for s in statuses for r in s.roots)
    # watching goes on after the root came back
    make_photo(root / "after.jpg", seed=55, size=(160, 120))
    wait_until(lambda: photo(lib, root / "after.jpg") is not None, what="a photo after the comeback")


def test_offline_state_is_kept_when_nothing_watches(open_library, tmp_path):
    root = tmp_path / "photos"
    make_photo(root / "a.jpg", seed=1, size=(96, 64))
    lib = open_library()
    lib.index([root])
    os.rename(root, tmp_path / "away")
    lib.start_watching(quiet_s=0.2)
    wait_until(lambda: settled(lib))
    lib.stop_watching()
    st = lib.watch_status()
    assert [(r.mode, r.photos) for r in st.roots] == [("offline", 1)] and not st.active


def test_polled_root_picks_up_copies_and_deletes(open_library, tmp_path, fakes):
    root = tmp_path / "share"
    make_photo(root / "a.jpg", seed=1, size=(96, 64))
    make_photo(root / "b.jpg", seed=2, size=(96, 64))
    lib = open_library()
    lib.index([root])
    lib.start_watching(poll=[root], poll_interval_s=0.3, quiet_s=0.2)
    wait_until(lambda: settled(lib))
    assert [(r.mode, r.reason) for r in lib.watch_status().roots] == [("polled", "asked for")]
    make_photo(root / "sub" / "c.jpg", seed=3, size=(96, 64))
    (root / "a.jpg").unlink()
    wait_until(lambda: photo(lib, root / "sub" / "c.jpg") is not None and photo(lib, root / "a.jpg") is None)
    assert lib.status().photos == 2


def test_network_and_fuse_mounts_are_polled():
    mounts = read_mounts(
        "/dev/sda1 / ext4 rw 0 0\n"
        "server:/export /mnt/nas nfs4 rw 0 0\n"
        "me@host:/pics /home/me/Remote\\040Pics fuse.sshfs rw 0 0\n"
        "/dev/sdb1 /media/me/usb fuseblk rw 0 0\n"
    )
    assert filesystem_type("/home/me/Pictures", mounts) == "ext4"
    assert filesystem_type("/mnt/nas/2024/x.jpg", mounts) == "nfs4"
    assert filesystem_type("/home/me/Remote Pics/a", mounts) == "fuse.sshfs"
    assert [needs_polling(filesystem_type(p, mounts)) for p in ("/home", "/mnt/nas", "/home/me/Remote Pics")] == [
        False,
        True,
        True,
    ]
    assert not needs_polling("fuseblk") and needs_polling("cifs") and not needs_polling(None)


def test_watch_uses_the_polling_fallback_on_a_network_mount(open_library, tmp_path):
    root = tmp_path / "nas"
    make_photo(root / "a.jpg", seed=1, size=(96, 64))
    lib = open_library()
    lib.index([root])
    lib.start_watching(mounts=[("/", "ext4"), (str(root), "cifs")], poll_interval_s=0.3, quiet_s=0.2)
    assert [r.mode for r in lib.watch_status().roots] == ["polled"]
    assert "cifs" in lib.watch_status().roots[0].reason


def test_file_still_being_written_is_retried_not_handed_out(tmp_path):
    now = [0.0]
    q = ChangeQueue(quiet_s=1.0, max_wait_s=5.0, clock=lambda: now[0])
    f = tmp_path / "big.jpg"
    f.write_bytes(b"x" * 10)
    q.file_changed(str(f))
    now[0] = 1.5
    f.write_bytes(b"x" * 20)  # grew without an event reaching us yet (e.g. a slow network copy)
    assert not q.take() and q.retried == 1 and len(q) == 1
    now[0] = 2.0
    assert not q.take()  # its quiet period restarted
    now[0] = 2.6
    assert q.take().files == {str(f)} and len(q) == 0


def test_events_are_coalesced_and_debounced(tmp_path):
    now = [0.0]
    q = ChangeQueue(quiet_s=1.0, max_wait_s=5.0, clock=lambda: now[0])
    paths = [str(tmp_path / f"{i}.jpg") for i in range(3)]
    for t in range(4):  # a burst: every file touched four times, 0.5 s apart
        now[0] = t * 0.5
        for p in paths:
            q.file_changed(p)
    assert q.events == 12 and len(q) == 3
    now[0] = 2.0
    assert not q.take()  # 0.5 s since the last event
    now[0] = 2.6
    assert q.take().files == set(paths) and not q.take()


def test_max_wait_lets_settled_files_through_a_long_burst(tmp_path):
    now = [0.0]
    q = ChangeQueue(quiet_s=1.0, max_wait_s=5.0, clock=lambda: now[0])
    q.file_changed(str(tmp_path / "first.jpg"))
    for t in range(1, 12):  # another file arrives every half second for 6 s
        now[0] = t * 0.5
        q.file_changed(str(tmp_path / f"more{t}.jpg"))
    taken = q.take().files  # at 5.5 s: everything quiet for 1 s goes; the last two wait
    assert str(tmp_path / "first.jpg") in taken and len(taken) == 10 and len(q) == 2


def test_poll_pass_diffs_size_and_mtime(tmp_path):
    make_photo(tmp_path / "a.jpg", 1, (64, 48))
    make_photo(tmp_path / "b.jpg", 2, (64, 48))
    poller = RootPoller(str(tmp_path))
    assert not poller.poll()
    (tmp_path / "b.jpg").unlink()
    make_photo(tmp_path / "c.jpg", 3, (64, 48))
    st = (tmp_path / "a.jpg").stat()
    os.utime(tmp_path / "a.jpg", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    diff = poller.poll()
    names = [[Path(p).name for p in x] for x in (diff.added, diff.changed, diff.removed)]
    assert names == [["c.jpg"], ["a.jpg"], ["b.jpg"]]


def test_excludes_apply_live_after_confirmation(watched, tmp_path):
    lib, root, _ = watched
    make_photo(root / "Screenshots" / "s1.jpg", seed=90, size=(96, 64))
    make_photo(root / "Screenshots" / "s2.jpg", seed=91, size=(96, 64))
    wait_until(lambda: lib.status().photos == 8 and settled(lib), what="screenshots indexed")
    asked = []
    assert lib.set_excludes([*lib.settings.excludes, "Screenshots"], lambda n, s: asked.append(n) or False) == 0
    assert asked == [2] and lib.status().photos == 8 and "Screenshots" not in lib.settings.excludes
    assert lib.set_excludes([*lib.settings.excludes, "Screenshots"], lambda n, s: True) == 2
    assert lib.status().photos == 6 and lib.status().vectors == 6 * 6
    make_photo(root / "Screenshots" / "s3.jpg", seed=92, size=(96, 64))  # new files there stay out
    make_photo(root / "kept.jpg", seed=93, size=(96, 64))
    wait_until(lambda: photo(lib, root / "kept.jpg") is not None and settled(lib))
    assert photo(lib, root / "Screenshots" / "s3.jpg") is None
    assert "Screenshots" in lib.settings.excludes
    # taking the exclude out again brings them back
    lib.set_excludes([e for e in lib.settings.excludes if e != "Screenshots"])
    wait_until(lambda: lib.status().photos == 10, what="un-excluded photos back")


def test_index_while_watching_runs_on_the_writer_and_watches_new_folders(watched, tmp_path):
    lib, _root, _ = watched
    other = tmp_path / "other"
    make_photo(other / "o.jpg", seed=60, size=(96, 64))
    stats = lib.index([other])
    assert stats.indexed == 1
    assert sorted(r.mode for r in lib.watch_status().roots) == ["watched", "watched"]
    make_photo(other / "o2.jpg", seed=61, size=(96, 64))
    wait_until(lambda: photo(lib, other / "o2.jpg") is not None, what="photo in the new folder")


def test_stop_saves_the_vector_index(watched, tmp_path):
    lib, root, _ = watched
    make_photo(root / "late.jpg", seed=70, size=(160, 120))
    wait_until(lambda: photo(lib, root / "late.jpg") is not None and settled(lib))
    st = lib.stop_watching()
    assert not st.active and st.state == "stopped"
    files = list(lib.paths.indexes.iterdir())
    assert files
    gen = lib.repo.generation(FAKE_MODEL)
    assert any(str(gen) in f.read_text() for f in files if f.suffix == ".json")


def test_watch_command_keeps_index_current_until_sigterm(tmp_path):
    import signal
    import sqlite3
    import subprocess
    import sys

    tiny = ["--clip-model", "shoebox-tiny", "--clip-pretrained", "none", "--detector", "yolo11n.yaml"]
    env = dict(os.environ, YOLO_OFFLINE="1", SHOEBOX_LIBRARY="/nonexistent-default-library")
    photos, lib = tmp_path / "photos", tmp_path / "lib"
    make_photo(photos / "a.jpg", seed=1, size=(160, 120))
    run = [sys.executable, "-m", "app", "--library", str(lib)]
    subprocess.run([*run, "index", str(photos), "--fast-only", *tiny], env=env, check=True, capture_output=True)
    proc = subprocess.Popen([*run, "watch", "--quiet", "0.3", *tiny], env=env, stderr=subprocess.PIPE, text=True)

    def indexed() -> int:
        conn = sqlite3.connect(f"file:{lib / 'shoebox.db'}?mode=ro", uri=True, timeout=30)
        try:
            return conn.execute("SELECT count(*) FROM photos WHERE state='indexed'").fetchone()[0]
        finally:
            conn.close()

    try:
        time.sleep(1.0)
        make_photo(photos / "b.jpg", seed=2, size=(160, 120))
        wait_until(lambda: indexed() == 2, timeout=60, what="the watch command to index b.jpg")
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "SIGTERM" in err and "watched" in err and "stopped" in err
    conn = sqlite3.connect(lib / "shoebox.db")
    gen = conn.execute("SELECT value FROM meta WHERE key LIKE 'vectors:%:generation'").fetchone()[0]
    conn.close()
    sidecars = [json.loads(f.read_text()) for f in (lib / "indexes").glob("*.json")]
    assert any(str(s.get("generation")) == gen for s in sidecars), (gen, sidecars)


def test_lost_events_after_a_queue_overflow_trigger_a_rescan(tmp_path):
    import logging

    from app.indexing.watcher import FolderWatcher

    root = tmp_path / "r"
    root.mkdir()
    q = ChangeQueue(quiet_s=0.0)
    w = FolderWatcher([str(root)], q)
    w.start()
    try:
        logging.getLogger("watchdog.observers.inotify_c").warning(
            "Inotify queue overflowed; filesystem events were lost"
        )
        assert q.take(force=True).dirs == {str(root)} and w.overflows == 1
    finally:
        w.stop()
