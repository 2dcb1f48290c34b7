"""Helpers shared by the benchmarks: corpus location, photo selection, peak memory."""

from __future__ import annotations

import os
import resource
import sys
from pathlib import Path

CORPUS = Path(os.environ.get("SHOEBOX_CORPUS", Path(__file__).resolve().parents[2] / "shared" / "corpus"))
EXTENSIONS = (".jpg", ".jpeg", ".png")


def corpus_photos(exclude: tuple[str, ...] = ("coco_cbir_crop_queries/queries",)) -> list[Path]:
    """Every library photo of the shared corpus (the crop queries are inputs, not library photos)."""
    if not CORPUS.is_dir():
        sys.exit(f"corpus not found at {CORPUS} (set SHOEBOX_CORPUS)")
    out = []
    for p in sorted(CORPUS.rglob("*")):
        rel = p.relative_to(CORPUS).as_posix()
        if p.suffix.lower() in EXTENSIONS and not any(rel.startswith(e) for e in exclude):
            out.append(p)
    return out


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
