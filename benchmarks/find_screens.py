"""Screenshots of the find-it features (docs/screenshots/find-*.png): prepare a library, then open the window on it
and drive it to one view.

    .venv/bin/python -m benchmarks.find_screens prepare /tmp/findshots
    /work/shared/tools/screenshot docs/screenshots/find-crop.png --title Shoebox --wait 8 -- \\
        .venv/bin/python -m benchmarks.find_screens show /tmp/findshots crop      # crop | viewer | text | dupes

The library is indexed with the default settings and no model weights (what a user gets offline): crop search,
words in photos (OCR) and duplicates work; captions say what is missing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from benchmarks.common import CORPUS

SOURCES = [
    ("photoprism_examples", "*.jpg"),
    ("photoprism_examples", "*.JPG"),
    ("exif_samples/orientation", "*.jpg"),
    ("immich_test_assets/albums/text", "*.jpg"),
    ("coco_tiny/val2017", "*.jpg"),
]
QUERY_FROM, QUERY_BOX = "elephants.jpg", (0.30, 0.25, 0.62, 0.70)  # fractions of the photo


def prepare(root: Path) -> None:
    from PIL import Image, ImageOps

    from app.services import Library

    photos = root / "photos"
    photos.mkdir(parents=True, exist_ok=True)
    for folder, pattern in SOURCES:
        for i, p in enumerate(sorted((CORPUS / folder).glob(pattern))):
            if folder.startswith("coco") and i >= 30:
                break
            dest = photos / p.name
            if not dest.exists():
                os.link(p, dest)
    # Edited copies: a smaller export and a mirrored one ("same picture" tier).
    with Image.open(photos / "cat_black.jpg") as im:
        im.resize((im.width // 2, im.height // 2)).save(photos / "cat_black_small.jpg", quality=80)
        ImageOps.mirror(im).save(photos / "cat_black_mirrored.jpg", quality=90)
    with Image.open(photos / QUERY_FROM) as im:
        w, h = im.size
        x0, y0, x1, y1 = QUERY_BOX
        crop = im.crop((int(x0 * w), int(y0 * h), int(x1 * w), int(y1 * h)))
        crop.save(root / "query.jpg", quality=88)
    # A collage holding the same elephant smaller: a second photo that contains the query.
    with Image.open(photos / "beach_sand.jpg") as bg:
        bg = bg.convert("RGB")
        part = crop.resize((int(bg.width * 0.28), int(bg.width * 0.28 * crop.height / crop.width)))
        bg.paste(part, (int(bg.width * 0.6), int(bg.height * 0.2)))
        bg.save(photos / "postcard_elephant.jpg", quality=90)
    with Library.open(root / "lib", create=True) as lib:
        stats = lib.index([photos])
        lib.status()
    print(f"indexed {stats.indexed} photos, {stats.ocr_lines} text lines; query: {root / 'query.jpg'}")


def show(root: Path, mode: str, words: str) -> int:
    from PySide6.QtCore import QMimeData, QPoint, QPointF, QSettings, Qt, QTimer, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDropEvent
    from PySide6.QtWidgets import QApplication

    from app.core.dupes import DupeTier
    from app.ui.launch_support import LibrarySource, app_icon
    from app.ui.main_window import MainWindow

    app = QApplication(sys.argv[:1])
    app.setWindowIcon(app_icon())
    settings = QSettings(str(root / "window.ini"), QSettings.Format.IniFormat)
    window = MainWindow(LibrarySource(root / "lib"), settings, scan_on_open=False)
    window.resize(1380, 860)
    window.show()

    def drop() -> None:
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(root / "query.jpg"))])
        pos = QPointF(600, 400)
        buttons, mods = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
        window.dropEvent(QDropEvent(pos, Qt.DropAction.CopyAction, mime, buttons, mods))

    def when_results(then) -> None:
        def poll() -> None:
            if window._query_running or window.results_model.rowCount() == 0:
                QTimer.singleShot(100, poll)
            else:
                then()

        poll()

    def start(_library) -> None:
        if mode == "crop":
            drop()
        elif mode == "viewer":
            drop()
            names = lambda: [i.name for i in window.results_model.items]  # noqa: E731
            when_results(lambda: window.open_result(names().index(QUERY_FROM) if QUERY_FROM in names() else 0))
        elif mode == "hint":  # a drag held over the window (Xvfb cannot drag a file): the drop-zone hint
            mime = QMimeData()
            mime.setUrls([QUrl.fromLocalFile(str(root / "query.jpg"))])
            buttons, mods = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
            window.dragEnterEvent(QDragEnterEvent(QPoint(600, 400), Qt.DropAction.CopyAction, mime, buttons, mods))
        elif mode == "text":
            window.search.setText(words)
            window.run_search()
        elif mode == "dupes":
            window.show_duplicates()

            def pick() -> None:
                if window._dupes_busy:
                    QTimer.singleShot(100, pick)
                    return
                window.dupes.tabs.setCurrentIndex(1 if window.dupes_model.counts()[DupeTier.SAME] else 0)
                model = window.dupes_model
                row = model.row(0)
                if row is not None:
                    i = next((k for k, p in enumerate(row.photos) if p.path != row.keeper), -1)
                    window.dupes.list.message.emit(model.toggle(0, i))

            pick()

    window.library_opened.connect(start)
    return app.exec()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("action", choices=["prepare", "show"])
    ap.add_argument("root", type=Path)
    ap.add_argument("mode", nargs="?", default="crop", choices=["crop", "viewer", "text", "dupes", "hint"])
    ap.add_argument("--words", default="beer")
    args = ap.parse_args()
    if args.action == "prepare":
        if args.root.exists():
            shutil.rmtree(args.root)
        prepare(args.root)
    else:
        sys.exit(show(args.root, args.mode, args.words))


if __name__ == "__main__":
    main()
