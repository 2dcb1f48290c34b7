"""Duplicates facade: tiered groups, trash and undo, "not a duplicate", protected folders."""

from __future__ import annotations

import hashlib
import logging
import os
from collections import defaultdict, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from app.core.dupes import DupeGroup, DupePair, DupePhoto, DupeTier
from app.core.errors import BadInputError, LibraryBusyError
from app.core.progress import Progress, ProgressCallback, no_progress
from app.imaging.decode import DecodeError, decode_file
from app.imaging.hashes import PHASH_KINDS
from app.imaging.pair_verify import VERSION as VERIFY_VERSION
from app.imaging.pair_verify import PairEvidence
from app.imaging.turned_verify import TurnedEvidence
from app.search.duplicates import (
    TABLE_KINDS,
    TURNED_KIND,
    HashTable,
    Links,
    choose_keeper,
    connected_groups,
    find_candidates,
)
from app.services.dupes_turned import GreyCache, KeypointCache, check_pixels, turned_candidates
from app.services.library import LibraryCore
from app.storage.dupes_repo import DupesRepository, PairRow, PhotoRow, Verdict
from app.storage.features_repo import FeaturesRepository
from app.storage.trash import move_to_trash, restore

log = logging.getLogger(__name__)

SIMILAR_CORRELATION = 0.5  # a failed `same` check this close is another shot of the moment
SIMILAR_INLIERS = 15
_MAX_WORKERS = 8  # threads for pixel checks


class DuplicatesMixin(LibraryCore):
    @property
    def _dupes(self) -> DupesRepository:
        return DupesRepository(self.repo.engine)

    # Finding

    def duplicates(
        self, tier: DupeTier | str | None = None, on_progress: ProgressCallback = no_progress
    ) -> list[DupeGroup]:
        """Groups of copies, each with a suggested keeper and why every pair matched.

        Only photos not compared yet (new or changed since the last call) are searched against the
        library; earlier verdicts are kept in the database. Pairs marked "not a duplicate" never return.
        """
        repo = self._dupes
        photos = repo.indexed_photos()
        self._check_new(repo, photos, on_progress)
        groups = self._groups(repo, photos)
        if tier is not None:
            groups = [g for g in groups if g.tier == DupeTier(tier)]
        return groups

    def _check_new(
        self, repo: DupesRepository, photos: dict[int, PhotoRow], on_progress: ProgressCallback = no_progress
    ) -> None:
        if self.is_writer and repo.checks_version() != VERIFY_VERSION:
            # Pairs stored by older checks were judged by weaker rules (an earlier version let a tripod
            # re-shot through as `same`): an upgraded library compares everything again, once.
            repo.restart_checks(VERIFY_VERSION)
        checked = repo.checked()
        new = [pid for pid, p in photos.items() if checked.get(pid) != p.content_hash]
        if not new:
            return
        table = HashTable.from_mapping({pid: h for pid, h in repo.all_hashes().items() if pid in photos})
        row_of = {int(pid): i for i, pid in enumerate(table.ids)}
        new_rows = np.array([row_of[p] for p in new if p in row_of], dtype=np.int64)
        whole = len(new_rows) == len(table)
        # pHash candidates, then (a separate pass) turned copies proposed by shared keypoints.
        cands = find_candidates(table, None if whole else new_rows)
        turned, feats = turned_candidates(FeaturesRepository(self.repo.engine), table.ids, None if whole else new_rows)
        cands, kps = cands + turned, KeypointCache(feats)
        hidden = repo.not_duplicate_hashes()
        links = self._known_links(repo, photos, table.ids, row_of, set(new), hidden)
        greys = GreyCache(self._grey)
        known = repo.verdicts(VERIFY_VERSION)
        fresh: list[Verdict] = []
        pairs: list[PairRow] = []
        total = len(cands)

        def apply(a_row: int, b_row: int, dist: int, kind: int, verdict: Verdict) -> None:
            if verdict.tier == DupeTier.SAME:
                links.union(a_row, b_row)
            if verdict.tier is not None:
                a, b = int(table.ids[a_row]), int(table.ids[b_row])
                how = TABLE_KINDS[kind] if kind < TURNED_KIND else (verdict.note or "turned").split(":")[0]
                dist_or_none = dist if kind < TURNED_KIND else None  # a turned pair's hashes are far apart
                pairs.append(PairRow(a, b, verdict.tier, dist_or_none, how, verdict.correlation, verdict.inliers))

        # Whole-picture matches (cheap check) before crops (local features), closest hashes first: they are
        # the likeliest copies, and once a group is linked its other pairs need no pixel check. Pixel checks
        # run a few at a time on threads (OpenCV and numpy release the GIL).
        order = np.lexsort((cands.kind, cands.distance, cands.kind >= len(PHASH_KINDS)))
        # Verdicts stored earlier (a re-index or a move keeps them) link their groups before any new check.
        for c in order:
            a, b = photos[int(table.ids[cands.a[c]])], photos[int(table.ids[cands.b[c]])]
            hashes = tuple(sorted((a.content_hash, b.content_hash)))
            verdict = known.get((*hashes, int(cands.kind[c])))
            if verdict is not None and hashes not in hidden:
                apply(int(cands.a[c]), int(cands.b[c]), int(cands.distance[c]), int(cands.kind[c]), verdict)
        workers = min(_MAX_WORKERS, os.cpu_count() or 1)
        batch_size = 1 if workers == 1 else 4 * workers
        pos, deferred = 0, deque()
        with ThreadPoolExecutor(workers) as pool:
            while pos < len(order) or deferred:
                on_progress(Progress("compare", pos - len(deferred), total))
                # A batch touches each group at most once, so no check in it can make another one moot.
                batch: list[tuple[int, int, int, int, PhotoRow, PhotoRow]] = []
                busy: set[int] = set()
                later: deque = deque()
                while (deferred or pos < len(order)) and len(batch) < batch_size and len(later) < 8 * batch_size:
                    if deferred:
                        c = deferred.popleft()
                    else:
                        c, pos = order[pos], pos + 1
                    a_row, b_row = int(cands.a[c]), int(cands.b[c])
                    dist, kind = int(cands.distance[c]), int(cands.kind[c])
                    a, b = photos[int(table.ids[a_row])], photos[int(table.ids[b_row])]
                    if a.content_hash == b.content_hash or links.linked(a_row, b_row):
                        continue  # identical bytes (grouped by content hash) or already in one group
                    hashes = tuple(sorted((a.content_hash, b.content_hash)))
                    if hashes in hidden:
                        continue  # the user said "not a duplicate": never shown, no need to look
                    if (*hashes, kind) in known:
                        continue  # applied above
                    roots = {links.find(a_row), links.find(b_row)}
                    if roots & busy:
                        later.append(c)
                        continue
                    busy |= roots
                    batch.append((a_row, b_row, dist, kind, a, b))
                deferred.extendleft(reversed(later))
                jobs = [
                    (ga := greys.get(a), gb := greys.get(b), kind)
                    + ((kps.get(a, ga), kps.get(b, gb)) if kind == TURNED_KIND else (None, None))
                    for _, _, _, kind, a, b in batch
                ]
                for (a_row, b_row, dist, kind, a, b), ev in zip(batch, pool.map(check_pixels, jobs), strict=True):
                    if ev is not None:
                        verdict = self._verdict(a, b, kind, ev)
                        fresh.append(verdict)
                        apply(a_row, b_row, dist, kind, verdict)
        on_progress(Progress("compare", total, total))
        if self.is_writer:
            repo.save_verdicts(fresh, VERIFY_VERSION)
            repo.record_checked([(p, photos[p].content_hash) for p in new], pairs)
        else:  # a reader cannot store verdicts: use them for this answer only
            self._unsaved_pairs = pairs

    @staticmethod
    def _known_links(
        repo: DupesRepository,
        photos: dict[int, PhotoRow],
        ids: np.ndarray,
        row_of: dict[int, int],
        rechecked: set[int],
        hidden: set[tuple[str, str]],
    ) -> Links:
        """Rows already known to be copies: same bytes, and stored `same` pairs that stay valid."""
        links = Links(len(ids))
        first_of: dict[str, int] = {}
        for row, pid in enumerate(ids):
            row_hash = photos[int(pid)].content_hash
            links.union(first_of.setdefault(row_hash, row), row)
        for r in repo.pairs():
            if r.tier != DupeTier.SAME or r.a in rechecked or r.b in rechecked:
                continue  # pairs of re-checked photos are replaced by this scan
            if r.a in row_of and r.b in row_of:
                pa, pb = photos[r.a], photos[r.b]
                if tuple(sorted((pa.content_hash, pb.content_hash))) not in hidden:
                    links.union(row_of[r.a], row_of[r.b])
        return links

    def _verdict(self, a: PhotoRow, b: PhotoRow, kind: int, ev: PairEvidence | TurnedEvidence) -> Verdict:
        how = None
        if isinstance(ev, TurnedEvidence):  # the turn found is the pair's reason: kept in the note
            how, ev = ev.how, ev.evidence
        tier = DupeTier.SAME if ev.same else self._similar_or_none(ev)
        hash_a, hash_b = sorted((a.content_hash, b.content_hash))
        note = ": ".join(x for x in (how, None if ev.same else ev.why_not) if x) or None
        return Verdict(hash_a, hash_b, kind, tier, round(ev.correlation, 4), ev.inliers or None, note)

    @staticmethod
    def _similar_or_none(ev: PairEvidence) -> DupeTier | None:
        if ev.correlation >= SIMILAR_CORRELATION or ev.inliers >= SIMILAR_INLIERS:
            return DupeTier.SIMILAR
        return None

    def _grey(self, p: PhotoRow) -> np.ndarray | None:
        """The photo's cached thumbnail in grey (decoding the file only if the thumbnail is gone)."""
        thumb = self.paths.thumbnail_for(p.content_hash)
        try:
            with Image.open(thumb) as im:
                return np.asarray(im.convert("L"))
        except OSError:
            pass
        try:
            _, decoded = decode_file(Path(p.path), work_size=self.settings.thumbnail_size)
        except DecodeError:
            return None
        return np.asarray(decoded.image.convert("L"))

    def _groups(self, repo: DupesRepository, photos: dict[int, PhotoRow]) -> list[DupeGroup]:
        hidden = repo.not_duplicate_hashes()
        protected = [Path(p) for p in repo.protected()]
        ids = sorted(photos)
        index = {pid: i for i, pid in enumerate(ids)}
        stored = repo.pairs() + getattr(self, "_unsaved_pairs", [])
        notes = repo.notes(VERIFY_VERSION)
        self._unsaved_pairs: list[PairRow] = []

        def visible(a: PhotoRow, b: PhotoRow) -> bool:
            return tuple(sorted((a.content_hash, b.content_hash))) not in hidden

        edges: dict[str, list[tuple[int, int, DupePair]]] = defaultdict(list)
        by_hash: dict[str, list[int]] = defaultdict(list)
        for pid in ids:
            by_hash[photos[pid].content_hash].append(pid)
        for members in by_hash.values():
            for other in members[1:]:
                a, b = photos[members[0]], photos[other]
                edges["copy"].append((index[a.id], index[b.id], DupePair(a.path, b.path, DupeTier.IDENTICAL)))
        for r in stored:
            if r.a not in photos or r.b not in photos or not visible(photos[r.a], photos[r.b]):
                continue
            pa, pb = photos[r.a], photos[r.b]
            note = notes.get(tuple(sorted((pa.content_hash, pb.content_hash)))) if r.tier == DupeTier.SIMILAR else None
            pair = DupePair(
                pa.path, pb.path, DupeTier(r.tier), r.distance, r.transform, r.correlation, r.inliers, r.cosine, note
            )
            edges["copy" if r.tier == DupeTier.SAME else "similar"].append((index[r.a], index[r.b], pair))

        def dupe_photo(pid: int) -> DupePhoto:
            p = photos[pid]
            prot = any(Path(p.path).is_relative_to(f) for f in protected)
            return DupePhoto(p.path, p.id, p.width, p.height, p.size, p.format, p.taken_at, prot)

        out: list[DupeGroup] = []
        copy_group_of: dict[int, int] = {}
        for kind in ("copy", "similar"):
            es = edges[kind]
            a = np.array([e[0] for e in es], dtype=np.int64)
            b = np.array([e[1] for e in es], dtype=np.int64)
            for members in connected_groups(len(ids), a, b):
                member_set = {int(m) for m in members}
                if kind == "similar" and len({copy_group_of.get(m, -1 - m) for m in member_set}) < 2:
                    continue  # all already copies of each other
                items = [dupe_photo(ids[m]) for m in sorted(member_set)]
                pairs = [e[2] for e in es if e[0] in member_set]
                if kind == "copy":
                    tier = (
                        DupeTier.IDENTICAL
                        if len({photos[ids[m]].content_hash for m in member_set}) == 1
                        else DupeTier.SAME
                    )
                    k, reason = choose_keeper(items)
                    items = [replace(items[k], keep=True), *items[:k], *items[k + 1 :]]
                    for m in member_set:
                        copy_group_of[m] = len(out)
                else:
                    tier, reason = DupeTier.SIMILAR, "other shots of one moment: nothing suggested for deletion"
                    items = [replace(p, keep=True) for p in items]
                out.append(DupeGroup(tier, items, reason, pairs))
        order = {DupeTier.IDENTICAL: 0, DupeTier.SAME: 1, DupeTier.SIMILAR: 2}
        out.sort(key=lambda g: (order[g.tier], g.photos[0].path))
        return out

    # Decisions

    def not_duplicate(self, a: Path | str, b: Path | str) -> None:
        """Remember that two photos are not duplicates: their pair is hidden from now on, across re-scans."""
        pa, pb = self._photo_row(a), self._photo_row(b)
        self._need_writer()
        self._dupes.add_not_duplicate(pa.content_hash, pb.content_hash)
        # Pairs skipped because this one linked their photos must now be looked at: check both again.
        self._dupes.uncheck([pa.id, pb.id])

    def protect_folder(self, path: Path | str, on: bool = True) -> None:
        """Mark a folder as a reference: nothing in it is ever trashed, and its copies are kept first."""
        p = Path(path).expanduser()
        if on and not p.is_dir():
            raise BadInputError(f"not a folder: {path}")
        self._need_writer()
        self._dupes.set_protected(str(p.resolve()), on)

    def protected_folders(self) -> list[str]:
        return self._dupes.protected()

    def trash(self, paths: list[Path | str]) -> list[str]:
        """Move photos to the system trash (never a hard delete), journalled for :meth:`undo`.

        Refused, before anything moves: a path that is not a library photo, a photo in a protected folder,
        a photo that is no copy of anything (tiers identical/same), and the last remaining copy of a group.

        Returns:
            the paths trashed.
        """
        self._need_writer()
        rows = [self._photo_row(p) for p in paths]
        targets = {r.id for r in rows}
        for folder in self._dupes.protected():
            for r in rows:
                if Path(r.path).is_relative_to(folder):
                    raise BadInputError(f"{r.path} is in a protected folder ({folder}); nothing was trashed")
        groups = [g for g in self.duplicates() if g.tier != DupeTier.SIMILAR]
        member_of = {p.photo_id: g for g in groups for p in g.photos}
        for r in rows:
            g = member_of.get(r.id)
            if g is None:
                raise BadInputError(f"{r.path} has no copy in the library; Shoebox only trashes duplicates")
            if all(p.photo_id in targets for p in g.photos):
                raise BadInputError(f"refusing to trash every copy of {g.photos[0].path}; keep at least one")
        entries = []
        for r in rows:
            digest = _file_hash(Path(r.path))
            moved = move_to_trash(Path(r.path))
            entries.append(
                {
                    "path": r.path,
                    "trash_path": moved.trash_path,
                    "info_path": moved.info_path,
                    "content_hash": digest,
                    "size": Path(moved.trash_path).stat().st_size if moved.trash_path else r.size,
                }
            )
        self._dupes.journal(entries)
        self.vectors.apply(self.repo.delete_photos([r.id for r in rows]))
        # The copies left may have been linked only through a trashed one (linked pairs are not checked):
        # compare them again on the next scan.
        left = {p.photo_id for r in rows for p in member_of[r.id].photos} - targets
        self._dupes.uncheck(sorted(left))
        return [r.path for r in rows]

    def undo(self) -> list[str]:
        """Bring back the files of the last trash action, byte-identical, and index them again.

        Raises:
            BadInputError: nothing to undo, or a file cannot be restored (the others still are).
        """
        self._need_writer()
        entries = self._dupes.last_batch()
        if not entries:
            raise BadInputError("nothing to undo")
        done, problems = [], []
        for e in entries:
            try:
                restore(e.path, e.trash_path, e.info_path)
            except (BadInputError, OSError) as exc:
                problems.append(str(exc))
                continue
            if _file_hash(Path(e.path)) != e.content_hash:
                problems.append(f"{e.path} came back with different bytes")
            done.append(e)
        self._dupes.mark_restored([e.id for e in done])
        if done:
            self.index(regions=False)
        if problems:
            raise BadInputError("; ".join(problems))
        return [e.path for e in done]

    def _photo_row(self, path: Path | str) -> PhotoRow:
        resolved = str(Path(path).expanduser().resolve())
        photo = self.repo.photo_by_path(resolved)
        if photo is None or photo.content_hash is None:
            raise BadInputError(f"not a photo of this library: {path}")
        return PhotoRow(
            photo.id, photo.path, photo.size, photo.content_hash, photo.width, photo.height, None, photo.taken_at
        )

    def _need_writer(self) -> None:
        if not self.is_writer:
            raise LibraryBusyError(f"another Shoebox process is using {self.paths.root}; try again when it is done")


def _file_hash(path: Path) -> str:
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
