"""``info``: what the library knows about one photo, with the text lines read in it (OCR)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

from app.cli.common import overrides
from app.cli.tags_cmd import tag_json
from app.services import Library


def register(
    sub: argparse._SubParsersAction, common: argparse.ArgumentParser
) -> dict[str, Callable[[argparse.Namespace], int]]:
    p = sub.add_parser("info", parents=[common], help="one photo: size, state and the text read in it")
    p.add_argument("path", metavar="PATH", help="a photo of the library")
    p.add_argument("--json", action="store_true", help="print as JSON on stdout")
    return {"info": _cmd_info}


def _cmd_info(args: argparse.Namespace) -> int:
    with Library.open(args.library, overrides=overrides(args)) as lib:
        info = lib.photo_info(args.path)
        tags = lib.photo_tags(info.photo)
    photo = info.photo
    lines = [
        {"text": ln.text, "box": [round(float(v), 1) for v in ln.box], "confidence": round(ln.confidence, 3)}
        for ln in info.lines
    ]
    if args.json:
        out = {
            "path": photo.path,
            "state": str(photo.state),
            "width": photo.width,
            "height": photo.height,
            "taken_at": photo.taken_at,
            "error": photo.error,
            "ocr": info.ocr_key,
            "lines": lines,
            "tags": tag_json(tags.tags),
            "tags_removed": tags.removed,
            "tag_summary": tags.summary,
            "colours": [{"colour": c, "share": w} for c, w in tags.colours],
        }
        print(json.dumps(out, indent=2, ensure_ascii=False))
        return 0
    print(f"{photo.path}\n  {photo.state}  {photo.width}x{photo.height}" + (f"  {photo.error}" if photo.error else ""))
    print(f"  tags: {tags.summary or 'none'}")
    if tags.colours:
        print("  colours: " + ", ".join(f"{c} {w:.0%}" for c, w in tags.colours))
    if info.ocr_key is None:
        print("  text: not read yet")
    elif not lines:
        print("  text: none found")
    for ln in lines:
        box = ",".join(f"{v:.0f}" for v in ln["box"])  # type: ignore[attr-defined]
        print(f"  {ln['confidence']:.2f}  [{box}]  {ln['text']}")
    return 0
