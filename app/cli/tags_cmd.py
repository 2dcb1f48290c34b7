"""``tags`` (every tag with its photo count, for a tag cloud) and ``tag`` (add or remove a user's tag)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence

from app.cli.common import overrides
from app.services import Library


def register(
    sub: argparse._SubParsersAction, common: argparse.ArgumentParser
) -> dict[str, Callable[[argparse.Namespace], int]]:
    p = sub.add_parser("tags", parents=[common], help="every tag in the library with how many photos show it")
    p.add_argument("--json", action="store_true", help="print as JSON on stdout")

    p = sub.add_parser("tag", parents=[common], help="add or remove a tag of one photo (your choice wins)")
    p.add_argument("path", metavar="PATH", help="a photo of the library")
    p.add_argument("--add", action="append", default=[], metavar="TAG", help="tag to add (repeatable)")
    p.add_argument("--remove", action="append", default=[], metavar="TAG", help="tag to take off (repeatable)")
    p.add_argument("--json", action="store_true", help="print the photo's tags as JSON on stdout")
    return {"tags": _cmd_tags, "tag": _cmd_tag}


def tag_json(rows: Sequence) -> list[dict[str, object]]:
    return [
        {"tag": r.tag, "source": r.source, "score": round(float(r.score), 4), "count": r.count, "model": r.model}
        for r in rows
    ]


def _cmd_tags(args: argparse.Namespace) -> int:
    with Library.open(args.library, overrides=overrides(args)) as lib:
        counts = lib.tag_counts()
    if args.json:
        out = {"tags": [{"tag": c.tag, "photos": c.photos, "sources": c.sources} for c in counts]}
        print(json.dumps(out, indent=2, ensure_ascii=False))
        return 0
    for c in counts:
        print(f"{c.photos:6d}  {c.tag}")
    if not counts:
        print("no tags yet (run 'shoebox index')", file=sys.stderr)
    return 0


def _cmd_tag(args: argparse.Namespace) -> int:
    if not args.add and not args.remove:
        print("shoebox: error: give --add TAG and/or --remove TAG", file=sys.stderr)
        return 2
    with Library.open(args.library, overrides=overrides(args)) as lib:
        info = None
        for t in args.add:
            info = lib.add_tag(args.path, t)
        for t in args.remove:
            info = lib.remove_tag(args.path, t)
    assert info is not None
    if args.json:
        out = {"path": info.photo.path, "tags": tag_json(info.tags), "tags_removed": info.removed}
        print(json.dumps(out, indent=2, ensure_ascii=False))
    else:
        print(f"{info.photo.path}: {info.summary or 'no tags'}")
    return 0
