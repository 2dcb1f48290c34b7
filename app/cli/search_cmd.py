"""``search`` and ``similar``: text, image, region and combined queries (DESIGN.md §6 JSON shape)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

from app.cli.common import overrides
from app.core.models import SearchHit, SearchQuery, SearchResults
from app.services import Library


def register(
    sub: argparse._SubParsersAction, common: argparse.ArgumentParser
) -> dict[str, Callable[[argparse.Namespace], int]]:
    p = sub.add_parser("search", parents=[common], help="find photos by a caption, an image or both")
    p.add_argument("text", nargs="?", metavar="TEXT", help='what to look for, e.g. "a dog on a beach"')
    p.add_argument("--image", metavar="FILE", help="an image (or a crop of a photo) to look for")
    p.add_argument("--words", metavar="TEXT", help='only the text read in photos (OCR), e.g. "wifi password"')
    p.add_argument("--not", dest="negative", action="append", default=[], metavar="TEXT", help="steer away from this")
    p.add_argument(
        "--tag", dest="tags", action="append", default=[], metavar="TAG", help="only photos with this tag (repeat: all)"
    )
    p.add_argument(
        "--colour",
        "--color",
        dest="colour",
        metavar="COLOUR",
        help='a colour name or "#rrggbb": alone, photos by how much of it they hold; with text or --image, a filter',
    )
    _result_flags(p)

    p = sub.add_parser("similar", parents=[common], help="photos that look like a photo of the library")
    p.add_argument("photo", metavar="PATH", help="a photo of the library")
    p.add_argument("--palette", action="store_true", help="photos with similar colours (not similar content)")
    _result_flags(p)
    return {"search": _cmd_search, "similar": _cmd_similar}


def _result_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--top", type=int, metavar="K", help="the K best results (instead of the adaptive cut-off)")
    p.add_argument("--all", action="store_true", help="no cut-off: rank every photo")
    p.add_argument("--json", action="store_true", help="print results as JSON on stdout")


def hit_json(h: SearchHit) -> dict[str, object]:
    out: dict[str, object] = {
        "path": h.path,
        "score": round(float(h.score), 4),
        "box": [round(float(v), 1) for v in h.box] if h.box is not None else None,
        "kind": str(h.kind),
    }
    if h.outline is not None:
        out["outline"] = [[round(float(x), 1), round(float(y), 1)] for x, y in h.outline]
    if h.inliers is not None:
        out["inliers"] = h.inliers
    if h.label:
        out["label"] = h.label
    if "text" in h.details:
        out["text"] = h.details["text"]
    for key in ("method", "ncc", "colour_share", "palette_similarity", "tags"):
        if key in h.details:
            out[key] = h.details[key]
    return out


def _top_ok(args: argparse.Namespace) -> bool:
    if args.top is not None and args.top < 1:
        print("shoebox: error: --top must be at least 1", file=sys.stderr)
        return False
    return True


def _cmd_search(args: argparse.Namespace) -> int:
    if not _top_ok(args):
        return 2
    query = SearchQuery(
        text=args.text,
        words=args.words,
        image=args.image,
        negative=tuple(args.negative),
        top=args.top,
        all=args.all,
        tags=tuple(args.tags),
        colour=args.colour,
    )
    with Library.open(args.library, overrides=overrides(args)) as lib:
        results = lib.search(query)
    return _print(results, args.json)


def _cmd_similar(args: argparse.Namespace) -> int:
    if not _top_ok(args):
        return 2
    with Library.open(args.library, overrides=overrides(args)) as lib:
        if args.palette:
            results = lib.similar_palette(args.photo, top=args.top)
        else:
            results = lib.similar(args.photo, top=args.top, all=args.all)
    return _print(results, args.json)


def _print(results: SearchResults, as_json: bool) -> int:
    for note in results.notes:
        print(f"note: {note}", file=sys.stderr)
    if as_json:
        print(json.dumps({"results": [hit_json(h) for h in results.hits]}, indent=2))
    else:
        for h in results.hits:
            box = " box=" + ",".join(f"{v:.0f}" for v in h.box) if h.box is not None else ""
            label = f" [{h.label}]" if h.label else ""
            print(f"{h.score:7.3f}  {h.kind:<6} {h.path}{box}{label}")
        if not results.hits:
            print("no matching photos", file=sys.stderr)
    return 0
