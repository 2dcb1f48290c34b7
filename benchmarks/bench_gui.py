"""GUI responsiveness: time to first paint, the longest UI-thread stall while indexing, grid scroll frames.

    QT_QPA_PLATFORM=offscreen YOLO_OFFLINE=1 .venv/bin/python -m benchmarks.bench_gui [--photos 500]
        [--models host|in-process|fakes] [--compare-in-process]

Models: random-init tiny ones (open_clip shoebox-tiny, yolo11n.yaml) in the model process as the window
runs them (``host``, default), in this process (``in-process``: torch loads on the indexer thread), or
the test fakes.

Prints one JSON object. Baselines in the same run: a bare PySide6 window's first paint, and the UI
timer's gaps while idle (what the machine's noise alone gives).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TINY = {"clip_model": "shoebox-tiny", "clip_pretrained": "none", "detector": "yolo11n.yaml"}

_BARE = """
import sys, time, json
from PySide6.QtWidgets import QApplication, QLabel
from PySide6.QtCore import QTimer
app = QApplication([]); w = QLabel("hello"); w.show()
QTimer.singleShot(0, lambda: (print(json.dumps({"painted_at": time.time()})), app.quit()))
app.exec()
"""


def first_paint(runs: int) -> dict:
    shoebox, bare, torch_flags = [], [], []
    env = {**os.environ, "SHOEBOX_EXIT_AFTER_PAINT": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "paint.json"
        env["SHOEBOX_FIRST_PAINT_REPORT"] = str(report)
        for _ in range(runs):
            t0 = time.time()
            subprocess.run([sys.executable, "-m", "app", "--library", f"{tmp}/lib"], env=env, cwd=ROOT, check=True)
            data = json.loads(report.read_text())
            shoebox.append(data["painted_at"] - t0)
            torch_flags.append(data["torch_imported"])
            t0 = time.time()
            out = subprocess.run([sys.executable, "-c", _BARE], env=env, capture_output=True, text=True, check=True)
            bare.append(json.loads(out.stdout.strip().splitlines()[-1])["painted_at"] - t0)
    return {
        "first_paint_s": round(statistics.median(shoebox), 3),
        "first_paint_runs_s": [round(x, 3) for x in shoebox],
        "bare_pyside_window_s": round(statistics.median(bare), 3),
        "torch_imported_at_first_paint": any(torch_flags),
        "target_s": 1.5,
    }


class StallMeter:
    """A 10 ms timer on the UI thread; a stall is how late it fires."""

    def __init__(self) -> None:
        from PySide6.QtCore import QTimer

        self.gaps: list[tuple[float, float]] = []  # (time, lateness ms)
        self._last = time.perf_counter()
        self.timer = QTimer(interval=10)
        self.timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps.append((now, (now - self._last) * 1000 - 10))
        self._last = now

    def start(self) -> None:
        self._last = time.perf_counter()
        self.gaps.clear()
        self.timer.start()

    def summary(self, since: float = 0.0) -> dict:
        gaps = [(t, g) for t, g in self.gaps if t >= since]
        lates = sorted(g for _t, g in gaps) or [0.0]
        t0 = self.gaps[0][0] if self.gaps else 0.0
        worst = sorted(gaps, key=lambda tg: -tg[1])[:5]
        return {
            "max_stall_ms": round(lates[-1], 1),
            "p99_stall_ms": round(lates[int(0.99 * (len(lates) - 1))], 1),
            "over_50ms": sum(g > 50 for g in lates),
            # when the worst happened (s after the meter started): start-up imports or steady indexing
            "worst_at_s_ms": [[round(t - t0, 2), round(g, 1)] for t, g in worst],
            "ticks": len(lates),
        }


def indexing_stall(n_photos: int, models: str) -> dict:
    from PySide6.QtWidgets import QApplication

    from app.ui.launch_support import LibrarySource, tune_ui_process
    from app.ui.main_window import MainWindow
    from benchmarks.common import corpus_photos

    app = QApplication.instance() or QApplication([])
    tune_ui_process()  # what app/ui/launch.py does for the real window
    photos = corpus_photos()[:n_photos]
    tmp = Path(tempfile.mkdtemp(prefix="shoebox-bench-gui-"))
    try:
        folder = tmp / "photos"
        folder.mkdir()
        for i, p in enumerate(photos):
            dest = folder / f"{i:05d}_{p.name}"
            try:
                os.link(p, dest)
            except OSError:
                shutil.copy2(p, dest)
        torch_before = "torch" in sys.modules
        if models == "fakes":
            sys.path.insert(0, str(ROOT))
            from tests.conftest import FakeDetector, FakeEncoder

            source = LibrarySource(tmp / "lib", encoder=FakeEncoder(), detector=FakeDetector())
        else:
            source = LibrarySource(tmp / "lib", TINY, model_host=models == "host")
        from PySide6.QtCore import QSettings

        window = MainWindow(source, QSettings(str(tmp / "w.ini"), QSettings.Format.IniFormat))
        window.resize(1280, 820)
        window.show()
        meter = StallMeter()
        meter.start()
        t_idle = time.perf_counter()
        while time.perf_counter() - t_idle < 2.0:
            app.processEvents()
            time.sleep(0.002)
        idle = meter.summary()
        done: list = []
        t_first_batch: list[float] = []
        window.library_opened.connect(
            lambda _lib: (
                window.controller.indexing_finished.connect(done.append),
                window.controller.progressed.connect(
                    lambda p: t_first_batch.append(time.perf_counter()) if p.phase == "fast" and p.done else None
                ),
            )
        )
        meter.start()
        t0 = time.perf_counter()
        window.add_folders([folder])
        while not done:
            app.processEvents()
            time.sleep(0.001)
        elapsed = time.perf_counter() - t0
        whole = meter.summary()
        steady = meter.summary(since=t_first_batch[0]) if t_first_batch else whole
        shown = window.model.rowCount()
        host = window.library.models_process is not None
        window.close()
        stats = done[0]
        names = {"fakes": "fakes (tests.conftest FakeEncoder/FakeDetector)", "host": "model process"}
        return {
            "models": names.get(models, "in this process") + ("" if models == "fakes" else f": random-init {TINY}"),
            "model_process_used": host,
            "torch_imported_in_ui_process": "torch" in sys.modules and not torch_before,
            "photos": len(photos),
            "indexed": stats.indexed,
            "failed": stats.failed,
            "shown_in_grid": shown,
            "indexing_s": round(elapsed, 1),
            "stall_whole_run": whole,
            "stall_after_first_batch": steady,
            "stall_idle_baseline": idle,
            "target_ms": 100,
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def grid_scroll(n: int) -> dict:
    from PySide6.QtWidgets import QApplication

    from app.core.gallery import GalleryItem
    from app.core.models import PhotoState
    from app.ui.gallery_model import PhotoGridModel
    from app.ui.grid_view import PhotoGridView
    from app.ui.thumbnails import ThumbnailLoader

    app = QApplication.instance() or QApplication([])
    tmp = Path(tempfile.mkdtemp(prefix="shoebox-bench-grid-"))
    # A few real thumbnails cycled over the synthetic rows, so the loader really reads and scales JPEGs.
    from PIL import Image

    thumbs = []
    for i in range(50):
        p = tmp / f"t{i}.jpg"
        Image.new("RGB", (320, 240), (i * 5, 100, 200 - i * 3)).save(p)
        thumbs.append(str(p))
    items = [
        GalleryItem(i, f"/photos/{i // 1000:03d}/img_{i:06d}.jpg", 1, PhotoState.INDEXED, f"{i:040x}", None, 0, 1)
        for i in range(n)
    ]
    loader = ThumbnailLoader(160)
    model = PhotoGridModel(loader, lambda it: thumbs[it.id % len(thumbs)])
    view = PhotoGridView()
    view.resize(1280, 800)
    view.setModel(model)
    view.show()
    app.processEvents()
    t0 = time.perf_counter()
    model.set_items(items)
    app.processEvents()
    view.viewport().repaint()
    load_s = time.perf_counter() - t0
    bar = view.verticalScrollBar()
    # The grid lays out in batches (PhotoGridView.LAYOUT_BATCH): run the event loop until the last row is
    # placed, timing each iteration (each is a frame the user could have been given).
    layout_iters, full = (
        [],
        view.gridSize().height() * -(-n // max(1, view.viewport().width() // view.gridSize().width())),
    )
    while bar.maximum() + view.viewport().height() < full and time.perf_counter() - t0 < 30:
        t = time.perf_counter()
        app.processEvents()
        view.viewport().repaint()
        layout_iters.append((time.perf_counter() - t) * 1000)
    layout_s = time.perf_counter() - t0
    frames = []
    for _ in range(300):  # wheel-like steps, thumbnails arriving while scrolling
        t = time.perf_counter()
        bar.setValue(bar.value() + 60)
        view.viewport().repaint()
        app.processEvents()
        frames.append((time.perf_counter() - t) * 1000)
    jumps = []
    for k in range(40):  # dragging the scroll bar across the whole library
        t = time.perf_counter()
        bar.setValue(int(bar.maximum() * k / 40))
        view.viewport().repaint()
        app.processEvents()
        jumps.append((time.perf_counter() - t) * 1000)
    loader.close()
    view.close()
    shutil.rmtree(tmp, ignore_errors=True)
    frames.sort()
    jumps.sort()
    return {
        "rows": n,
        "model_reset_and_first_layout_batch_s": round(load_s, 3),
        "layout_all_rows_s": round(layout_s, 3),
        "layout_longest_event_loop_iteration_ms": round(max(layout_iters, default=0.0), 1),
        "scroll_frame_ms": {
            "median": round(statistics.median(frames), 2),
            "p95": round(frames[int(0.95 * len(frames))], 2),
            "max": round(frames[-1], 2),
        },
        "jump_frame_ms": {"median": round(statistics.median(jumps), 2), "max": round(jumps[-1], 2)},
        "target_frame_ms": 16.7,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--photos", type=int, default=500)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--paint-runs", type=int, default=3)
    ap.add_argument("--models", choices=("host", "in-process", "fakes"), default="host")
    ap.add_argument("--fakes", action="store_true", help="same as --models fakes")
    ap.add_argument(
        "--compare-in-process", action="store_true", help="also run the stall with the models in this process"
    )
    ap.add_argument("--skip-paint-and-scroll", action="store_true")
    ap.add_argument(
        "--uncompiled",
        action="store_true",
        help="leave app/ without bytecode (dev.py compiles it before every launch; see its _compile_sources)",
    )
    args = ap.parse_args()
    os.environ.setdefault("YOLO_OFFLINE", "1")
    out: dict = {}
    if not args.uncompiled:
        import compileall

        compileall.compile_dir(str(ROOT / "app"), quiet=1)
    out["app_bytecode_compiled"] = not args.uncompiled
    if not args.skip_paint_and_scroll:
        out["first_paint"] = first_paint(args.paint_runs)
        out["grid_scroll"] = grid_scroll(args.rows)
    out["indexing_stall"] = indexing_stall(args.photos, "fakes" if args.fakes else args.models)
    if args.compare_in_process:  # last: it imports torch into this process
        out["indexing_stall_models_in_process"] = indexing_stall(args.photos, "in-process")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
