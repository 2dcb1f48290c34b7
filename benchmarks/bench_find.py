"""Find it in the window: drop-to-first-results time, the UI thread's longest stall while queries run, typing
with instant results, and the duplicates view with 10,000 groups.

    QT_QPA_PLATFORM=offscreen YOLO_OFFLINE=1 .venv/bin/python -m benchmarks.bench_find [--photos 500]
        [--queries 10] [--library DIR]

Library: the first ``--photos`` corpus photos, indexed with the random-init tiny CLIP (``shoebox-tiny``,
``pretrained=none``) and no detector (the fast pass: thumbnails, hashes, local features, whole-photo
vectors). ``--library DIR`` keeps it for the next run. Queries: crops (10-35 % of the area, rescaled,
JPEG 85) of random library photos, dropped on the window as file URLs.

Baselines in the same run: the bare facade call (``Library.search`` on this thread, no window), and the
UI timer's lateness while idle (the machine's own noise).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.bench_gui import StallMeter

TINY_CLIP = {"clip_model": "shoebox-tiny", "clip_pretrained": "none"}
TYPED = ["red ", "car ", "on ", "the ", "street"]  # typed word by word with pauses, as a person would


def build_library(lib_dir: Path, photos_dir: Path, n: int, clip: dict = TINY_CLIP) -> dict:
    from app.core.paths import LibraryPaths
    from app.services import Library
    from benchmarks.common import corpus_photos

    if LibraryPaths(lib_dir).db.exists():
        return {"reused": str(lib_dir)}
    photos_dir.mkdir(parents=True, exist_ok=True)
    for i, p in enumerate(corpus_photos()[:n]):
        dest = photos_dir / f"{i:05d}_{p.name}"
        if not dest.exists():
            try:
                os.link(p, dest)
            except OSError:
                shutil.copy2(p, dest)
    t0 = time.perf_counter()
    with Library.open(lib_dir, create=True, overrides=clip, persist_overrides=True, detector=None) as lib:
        stats = lib.index([photos_dir], regions=False)
        lib.status()  # builds and saves the feature and vector caches
    return {"indexed": stats.indexed, "failed": stats.failed, "index_s": round(time.perf_counter() - t0, 1)}


def make_queries(library, out_dir: Path, n: int, seed: int = 7) -> list[tuple[Path, int]]:
    from PIL import Image

    rng = random.Random(seed)
    items = [i for i in library.photos() if i.width and i.width >= 300 and i.height and i.height >= 240]
    out_dir.mkdir(parents=True, exist_ok=True)
    queries = []
    for k, item in enumerate(rng.sample(items, min(n, len(items)))):
        with Image.open(item.path) as im:
            from PIL import ImageOps

            im = ImageOps.exif_transpose(im).convert("RGB")
            frac = rng.uniform(0.10, 0.35) ** 0.5
            w, h = int(im.width * frac), int(im.height * frac)
            x, y = rng.randint(0, im.width - w), rng.randint(0, im.height - h)
            crop = im.crop((x, y, x + w, y + h))
            scale = rng.uniform(0.7, 1.2)
            crop = crop.resize((max(32, int(w * scale)), max(32, int(h * scale))))
            dest = out_dir / f"q{k:02d}.jpg"
            crop.save(dest, quality=85)
        queries.append((dest, item.id))
    return queries


def facade_baseline(lib_dir: Path, queries, warm, clip: dict = TINY_CLIP) -> dict:
    """The bare facade on the window's crops, in a fresh process (cold caches, as the window had them)."""
    import subprocess

    spec = json.dumps(
        {"lib": str(lib_dir), "queries": [(str(p), pid) for p, pid in queries], "warm": str(warm[0]), "clip": clip}
    )
    code = "import sys, json; from benchmarks.bench_find import _facade_child; _facade_child(sys.argv[1])"
    out = subprocess.run([sys.executable, "-c", code, spec], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _facade_child(spec: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from app.core.models import SearchQuery
    from app.services import Library

    args = json.loads(spec)
    with Library.open(args["lib"], overrides=args["clip"], detector=None) as library:
        queries = [(Path(p), pid) for p, pid in args["queries"]]
        # On a worker thread like the window's: torch on the main thread uses every core for the query's CLIP
        # forward, and its OpenMP threads spinning beside OpenCV made crop search ~3x slower on 2 loaded cores.
        with ThreadPoolExecutor(1) as pool:
            pool.submit(library.search, SearchQuery(image=args["warm"])).result()  # models and indexes load once
            print(json.dumps(pool.submit(_time_facade, library, queries).result()))


def _time_facade(library, queries) -> dict:
    from app.core.models import SearchQuery

    times, top1 = [], 0
    for path, pid in queries:
        t0 = time.perf_counter()
        res = library.search(SearchQuery(image=str(path)))
        times.append(time.perf_counter() - t0)
        top1 += bool(res.hits) and res.hits[0].photo_id == pid
    return _summary(times) | {"top1": top1, "queries": len(queries)}


def _summary(seconds: list[float]) -> dict:
    s = sorted(seconds)
    return {"median_s": round(statistics.median(s), 3), "max_s": round(s[-1], 3)}


def _spin(app, until, timeout: float = 60.0) -> bool:
    deadline = time.perf_counter() + timeout
    while not until():
        if time.perf_counter() > deadline:
            return False
        app.processEvents()
        time.sleep(0.001)
    return True


def drop_to_results(app, window, queries, warm) -> dict:
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDropEvent

    painted: list[tuple[int, float]] = []
    window.results.grid.painted.connect(lambda gen: painted.append((gen, time.perf_counter())))
    facade: list[float] = []  # the facade call itself, timed on the worker thread
    real = window.library.search

    def timed(q):
        t = time.perf_counter()
        res = real(q)
        facade.append(time.perf_counter() - t)
        return res

    window.library.search = timed
    meter = StallMeter()
    first, thumbs, stalls, calls, top1 = [], [], [], [], 0
    for k, (path, pid) in enumerate([warm, *queries]):  # the first (another photo's crop) warms up, not counted
        window.clear_query()
        _spin(app, lambda: False, timeout=0.3)
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(path))])
        meter.start()
        t0 = time.perf_counter()
        event = QDropEvent(
            QPointF(200, 200), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
        )
        window.dropEvent(event)
        gen = window._query_generation
        ok = _spin(
            app,
            lambda g=gen: (
                any(p[0] == g for p in painted) or (not window._query_running and window.results_model.rowCount() == 0)
            ),
        )
        t_paint = next((t for g, t in painted if g == gen), None)
        model = window.results_model
        _spin(
            app, lambda m=model: m.rowCount() == 0 or m.data(m.index(0), Qt.ItemDataRole.DecorationRole) is not None, 10
        )
        t_thumb = time.perf_counter()
        stall = meter.summary()
        meter.timer.stop()
        if k == 0 or not ok or t_paint is None:
            continue
        first.append(t_paint - t0)
        thumbs.append(t_thumb - t0)
        calls.append(facade[-1])
        stalls.append(stall["max_stall_ms"])
        top1 += model.rowCount() > 0 and model.hit(0).photo_id == pid
    window.library.search = real
    overhead = [f - c for f, c in zip(first, calls, strict=True)]
    return {
        "drop_to_first_results_painted": _summary(first),
        "facade_call_of_these_queries": _summary(calls),
        "window_overhead_s": _summary(overhead),
        "drop_to_first_thumbnail": _summary(thumbs),
        "ui_max_stall_ms": {"median": round(statistics.median(stalls), 1), "max": round(max(stalls), 1)},
        "top1": top1,
        "queries": len(first),
        "target": {"first_results_s": 1.0, "stall_ms": 100},
    }


def typing(app, window) -> dict:
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    asked: list[str] = []
    real = window.library.search
    window.library.search = lambda q: (asked.append(q.text or ""), real(q))[1]
    window.clear_query()
    window.search.setFocus()
    meter = StallMeter()
    meter.start()
    t0 = time.perf_counter()
    for word in TYPED:
        for ch in word:
            QTest.keyClick(window.search, ch if ch != " " else Qt.Key.Key_Space)
            _spin(app, lambda: False, timeout=0.09)  # ~11 characters a second
        _spin(app, lambda: False, timeout=0.4)  # a pause: the debounce fires, a query runs
    _spin(app, lambda: not window._query_running and window._query_pending is None, 30)
    _spin(app, lambda: False, timeout=0.3)
    out = meter.summary()
    meter.timer.stop()
    window.library.search = real
    return {
        "typed": "".join(TYPED),
        "seconds": round(time.perf_counter() - t0, 1),
        "queries_run": len(asked),
        "ui_stall": out,
        "final_results": window.results_model.rowCount(),
        "note": window.results.notes.text()[:120],
    }


def dupes_view(app, window, n: int = 10_000) -> dict:
    from app.core.dupes import DupeGroup, DupePair, DupePhoto, DupeTier

    groups = []
    for g in range(n):
        photos = [
            DupePhoto(f"/p/{g:05d}/img_{k}.jpg", 10**7 + g * 3 + k, 4000, 3000, 2_000_000 - k, keep=k == 0)
            for k in range(3)
        ]
        pairs = [DupePair(photos[0].path, p.path, DupeTier.SAME, 4, "phash", 0.97) for p in photos[1:]]
        groups.append(DupeGroup(DupeTier.SAME, photos, "keep img_0.jpg: largest picture (4000x3000)", pairs))
    window.stack.setCurrentWidget(window.dupes)
    view = window.dupes.list
    t0 = time.perf_counter()
    window.dupes_model.set_groups(groups, {})
    window.dupes_model.set_tier(DupeTier.SAME)
    view.viewport().repaint()
    app.processEvents()
    shown = time.perf_counter() - t0
    bar = view.verticalScrollBar()
    frames = []
    for k in range(200):
        t = time.perf_counter()
        bar.setValue(bar.value() + 60 if k < 150 else int(bar.maximum() * (k - 150) / 50))
        view.viewport().repaint()
        app.processEvents()
        frames.append((time.perf_counter() - t) * 1000)
    frames.sort()
    return {
        "groups": n,
        "set_and_first_paint_s": round(shown, 3),
        "scroll_frame_ms": {"median": round(statistics.median(frames), 2), "max": round(frames[-1], 2)},
    }


def dupes_real(app, window) -> dict:
    meter = StallMeter()
    meter.start()
    t0 = time.perf_counter()
    window.show_duplicates()
    _spin(app, lambda: not window._dupes_busy, 600)
    out = {
        "seconds": round(time.perf_counter() - t0, 2),
        "groups": window.dupes_model.counts(),
        "ui_stall": meter.summary(),
    }
    meter.timer.stop()
    out["groups"] = {str(k): v for k, v in out["groups"].items()}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--photos", type=int, default=500)
    ap.add_argument("--queries", type=int, default=10)
    ap.add_argument("--library", help="keep the indexed library here (reused when it exists)")
    ap.add_argument(
        "--clip-model",
        default=TINY_CLIP["clip_model"],
        help="open_clip architecture, random init (e.g. ViT-B-32: a real model's cost, no weights needed)",
    )
    args = ap.parse_args()
    os.environ.setdefault("YOLO_OFFLINE", "1")
    tmp = Path(tempfile.mkdtemp(prefix="shoebox-bench-find-"))
    lib_dir = Path(args.library) if args.library else tmp / "lib"
    clip = {"clip_model": args.clip_model, "clip_pretrained": "none"}
    out: dict = {"photos": args.photos, "models": f"random-init {args.clip_model} CLIP, no detector"}
    try:
        out["library"] = build_library(lib_dir, lib_dir.parent / (lib_dir.name + "-photos"), args.photos, clip)
        from app.services import Library

        with Library.open(lib_dir, overrides=clip, detector=None) as lib:
            queries = make_queries(lib, tmp / "queries", 2 * args.queries)
        from PySide6.QtCore import QSettings
        from PySide6.QtWidgets import QApplication

        from app.ui.launch_support import LibrarySource
        from app.ui.main_window import MainWindow

        app = QApplication.instance() or QApplication([])
        source = LibrarySource(lib_dir, clip, detector=None)
        window = MainWindow(source, QSettings(str(tmp / "w.ini"), QSettings.Format.IniFormat), scan_on_open=False)
        window.resize(1280, 820)
        window.show()
        opened: list = []
        window.library_opened.connect(opened.append)
        _spin(app, lambda: bool(opened), 120)
        meter = StallMeter()
        meter.start()
        _spin(app, lambda: False, timeout=2.0)
        out["ui_idle_baseline"] = meter.summary()
        meter.timer.stop()
        # Typing first: the first text query loads the CLIP text tower (torch) on the worker, as in a fresh app.
        out["typing"] = {"torch_imported_before": "torch" in sys.modules} | typing(app, window)
        n = args.queries
        out["drop"] = drop_to_results(app, window, queries[:n], warm=queries[n])
        out["duplicates_compute"] = dupes_real(app, window)
        out["duplicates_view"] = dupes_view(app, window)
        window.close()
        out["facade_baseline_fresh_process"] = facade_baseline(lib_dir, queries[:n], queries[n], clip)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
