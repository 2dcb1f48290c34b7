"""``dupes``, ``trash`` and ``undo``: tiered duplicates and safe clean-up (DESIGN.md §6 JSON shape)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

from app.cli.common import ProgressPrinter, overrides
from app.core.dupes import DupeGroup
from app.services import Library


def register(
    sub: argparse._SubParsersAction, common: argparse.ArgumentParser
) -> dict[str, Callable[[argparse.Namespace], int]]:
    p = sub.add_parser("dupes", parents=[common], help="list duplicate groups with a suggested keeper")
    p.add_argument("--tier", choices=("identical", "same", "similar"), help="only groups of this tier")
    p.add_argument("--json", action="store_true", help="print groups as JSON on stdout")
    t = sub.add_parser("trash", parents=[common], help="move duplicate photos to the system trash (undoable)")
    t.add_argument("paths", nargs="+", metavar="PATH")
    sub.add_parser("undo", parents=[common], help="bring back the files of the last 'trash'")
    return {"dupes": _cmd_dupes, "trash": _cmd_trash, "undo": _cmd_undo}


def group_json(g: DupeGroup) -> dict[str, object]:
    return {
        "tier": str(g.tier),
        "photos": [{"path": p.path, "keep": p.keep} for p in g.photos],
        "reason": g.reason,
        "pairs": [
            {
                "a": pr.a,
                "b": pr.b,
                "tier": str(pr.tier),
                "why": pr.reason,
                "distance": pr.distance,
                "transform": pr.transform,
                "correlation": pr.correlation,
                "inliers": pr.inliers,
                "cosine": pr.cosine,
            }
            for pr in g.pairs
        ],
    }


def _cmd_dupes(args: argparse.Namespace) -> int:
    with Library.open(args.library, overrides=overrides(args)) as lib:
        groups = lib.duplicates(args.tier, on_progress=ProgressPrinter())
    if args.json:
        print(json.dumps({"groups": [group_json(g) for g in groups]}, indent=2))
        return 0
    for g in groups:
        print(f"[{g.tier}] {g.reason}")
        for p in g.photos:
            print(f"  {'keep ' if p.keep else '     '} {p.path}")
        for pr in g.pairs:
            print(f"      why: {pr.reason}")
    if not groups:
        print("no duplicates found")
    return 0


def _cmd_trash(args: argparse.Namespace) -> int:
    with Library.open(args.library, overrides=overrides(args)) as lib:
        done = lib.trash(args.paths)
    for path in done:
        print(f"trashed {path}")
    print("('shoebox undo' brings them back)")
    return 0


def _cmd_undo(args: argparse.Namespace) -> int:
    with Library.open(args.library, overrides=overrides(args)) as lib:
        done = lib.undo()
    for path in done:
        print(f"restored {path}")
    return 0
