"""The shoebox command as a user runs it: real random-init models, subprocesses, kill -9."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import make_photo

TINY = ["--clip-model", "shoebox-tiny", "--clip-pretrained", "none", "--detector", "yolo11n.yaml"]


def shoebox(*args: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ, YOLO_OFFLINE="1", SHOEBOX_LIBRARY="/nonexistent-default-library")
    out = subprocess.run([sys.executable, "-m", "app", *args], capture_output=True, text=True, env=env, **kw)
    if check:
        assert out.returncode == 0, out.stderr
    return out


def _db_counts(lib: Path) -> dict[str, int]:
    conn = sqlite3.connect(f"file:{lib / 'shoebox.db'}?mode=ro", uri=True, timeout=30)
    try:
        rows = dict(conn.execute("SELECT state, count(*) FROM photos GROUP BY state").fetchall())
        rows["photo_regions"] = conn.execute("SELECT count(*) FROM regions WHERE kind='photo'").fetchone()[0]
        rows["distinct_photo_regions"] = conn.execute(
            "SELECT count(DISTINCT photo_id) FROM regions WHERE kind='photo'"
        ).fetchone()[0]
        rows["embeddings"] = conn.execute("SELECT count(*) FROM embeddings").fetchone()[0]
        return rows
    finally:
        conn.close()


def test_index_and_status_with_random_init_models(tmp_path):
    photos = tmp_path / "photos"
    for i in range(4):
        make_photo(photos / f"p{i}.jpg", seed=i)
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    lib = tmp_path / "lib"
    out = shoebox("--library", str(lib), "index", str(photos), *TINY)
    assert "4 indexed" in out.stderr and "1 failed" in out.stderr and "broken.jpg" in out.stderr
    st = json.loads(shoebox("--library", str(lib), "status", "--json").stdout)
    assert (st["photos"], st["indexed"], st["failed"], st["pending"]) == (5, 4, 1, 0)
    assert st["regions"]["done"] == 4 and st["regions"]["pending"] == 0
    assert st["models"]["clip"]["model"] == "shoebox-tiny/none" and st["models"]["clip"]["random_init"]
    assert st["vectors"] == st["regions"]["count"] > 4
    assert st["failures"][0]["path"].endswith("broken.jpg")
    again = json.loads(shoebox("--library", str(lib), "index", str(photos), "--json").stdout)
    assert again["indexed"] == 0 and again["model_images"] == 0 and again["unchanged"] == 5


def test_bad_input_is_one_line_and_changes_nothing(tmp_path):
    lib = tmp_path / "lib"
    out = shoebox("--library", str(lib), "index", str(tmp_path / "missing"), *TINY, check=False)
    assert out.returncode != 0 and out.stderr.strip().count("\n") == 0 and "no such folder" in out.stderr
    assert not lib.exists()
    out = shoebox("--library", str(tmp_path / "nolib"), "status", check=False)
    assert out.returncode != 0 and "no Shoebox library" in out.stderr and not (tmp_path / "nolib").exists()


def test_library_from_a_newer_version_is_refused_untouched(tmp_path):
    photos = tmp_path / "photos"
    make_photo(photos / "a.jpg", seed=1)
    lib = tmp_path / "lib"
    shoebox("--library", str(lib), "index", str(photos), "--fast-only", *TINY)
    conn = sqlite3.connect(lib / "shoebox.db")
    conn.execute("UPDATE meta SET value='999' WHERE key='schema_version'")
    conn.commit()
    conn.close()
    before = hashlib.sha256((lib / "shoebox.db").read_bytes()).hexdigest()
    for args in (["status"], ["index", str(photos)]):
        out = shoebox("--library", str(lib), *args, check=False)
        assert out.returncode != 0 and "newer Shoebox" in out.stderr and out.stderr.count("\n") == 1
    assert hashlib.sha256((lib / "shoebox.db").read_bytes()).hexdigest() == before


@pytest.mark.slow
def test_kill_9_during_indexing_then_resume(tmp_path):
    photos = tmp_path / "photos"
    n = 160
    for i in range(n):
        make_photo(photos / f"p{i:03d}.jpg", seed=i, size=(800, 600))
    lib = tmp_path / "lib"
    env = dict(os.environ, YOLO_OFFLINE="1")
    cmd = [sys.executable, "-m", "app", "--library", str(lib), "index", str(photos), "--fast-only", *TINY]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if _db_counts(lib).get("indexed", 0) >= 16:
                    break
            except sqlite3.OperationalError:
                pass  # not created yet
            time.sleep(0.02)
        # A second process can read the library while the first one writes.
        st = json.loads(shoebox("--library", str(lib), "status", "--json").stdout)
        assert st["photos"] == n and 16 <= st["indexed"] <= n
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    at_kill = _db_counts(lib)
    assert at_kill.get("indexed", 0) < n, "indexing finished before the kill; make the test photos bigger"
    out = shoebox("--library", str(lib), "index", str(photos), "--fast-only", "--json")
    stats = json.loads(out.stdout)
    after = _db_counts(lib)
    assert after.get("indexed") == n and after.get("pending", 0) == 0 and after.get("failed", 0) == 0
    assert after["photo_regions"] == after["distinct_photo_regions"] == n  # none twice, none lost
    assert stats["indexed"] == n - at_kill["indexed"]  # committed work was not redone
    st = json.loads(shoebox("--library", str(lib), "status", "--json").stdout)
    assert st["vectors"] == after["embeddings"] == n
