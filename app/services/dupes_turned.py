"""The duplicate finder's pixel-check inputs, and its turned-copy pass: candidates from shared keypoints
(``search.keypoint_lsh``) and the keypoints their check needs.

A separate pass from the pHash grouping (``search.duplicates``): it reads the stored local features of the
crop search (``local_features``), so photos indexed before those existed take part once the crop search
has filled them in.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import numpy as np

from app.imaging.local_features import FEATURES_VERSION
from app.imaging.pair_verify import PairEvidence, verify_both_ways
from app.imaging.turned_verify import Keypoints, TurnedEvidence, verify_turned
from app.search.duplicates import CANDIDATE_RADIUS, TURNED_KIND, Candidates
from app.search.keypoint_lsh import candidate_pairs
from app.storage.dupes_repo import PhotoRow
from app.storage.features_repo import FeaturesRepository, StoredFeatures, unpack_geometry


def turned_candidates(
    repo: FeaturesRepository, ids: np.ndarray, new_rows: np.ndarray | None
) -> tuple[Candidates, dict[int, StoredFeatures]]:
    """Pairs (rows of ``ids``) sharing many keypoints, touching ``new_rows`` (all rows when None), and the
    features read for them.

    ``distance`` orders them after every pHash pair (those are at most ``CANDIDATE_RADIUS`` bits apart),
    the pairs with the most shared keypoints first.
    """
    row_of = {int(pid): i for i, pid in enumerate(ids)}
    feats = {f.photo_id: f for _, f in repo.iter_after(0, FEATURES_VERSION) if f.photo_id in row_of and f.count}
    if not feats:
        return Candidates(*(np.zeros(0, np.int64),) * 2, np.zeros(0, np.int16), np.zeros(0, np.int8)), feats
    codes = np.concatenate([f.codes for f in feats.values()])
    owner = np.concatenate([np.full(f.count, row_of[pid], np.int64) for pid, f in feats.items()])
    a, b, votes = candidate_pairs(codes, owner, new_rows)
    distance = (CANDIDATE_RADIUS + 1 + np.maximum(0, 255 - votes)).astype(np.int16)
    return Candidates(a, b, distance, np.full(len(a), TURNED_KIND, np.int8)), feats


class KeypointCache:
    """Stored index keypoints of photos, in their thumbnails' pixels, for the turned-copy check."""

    def __init__(self, features: dict[int, StoredFeatures]) -> None:
        self._features = features

    def get(self, p: PhotoRow, thumb: np.ndarray | None) -> Keypoints | None:
        f = self._features.get(p.id)
        if f is None or thumb is None or not p.width or not p.height:
            return None
        # Keypoints are in working-image pixels (photo pixels / scale); the thumbnail is that image shrunk.
        geo = unpack_geometry(f.geometry)
        fx = thumb.shape[1] * f.scale / p.width
        fy = thumb.shape[0] * f.scale / p.height
        return Keypoints(np.ascontiguousarray(f.codes), (geo[:, :2] * np.float32([fx, fy])).astype(np.float32))


def check_pixels(
    job: tuple[np.ndarray | None, np.ndarray | None, int, Keypoints | None, Keypoints | None],
) -> PairEvidence | TurnedEvidence | None:
    """One pixel check on a worker thread: the hash path's, or the turned-copy one through keypoints."""
    ga, gb, kind, ka, kb = job
    if ga is None or gb is None:
        return None
    if kind == TURNED_KIND:
        return None if ka is None or kb is None else verify_turned(ga, gb, ka, kb)
    return verify_both_ways(ga, gb, kind)


class GreyCache:
    """The last few decoded thumbnails: a photo has many candidate pairs, decode it once for them."""

    def __init__(self, load: Callable[[PhotoRow], np.ndarray | None], size: int = 512) -> None:
        self._load, self._size = load, size
        self._items: OrderedDict[int, np.ndarray | None] = OrderedDict()

    def get(self, p: PhotoRow) -> np.ndarray | None:
        if p.id in self._items:
            self._items.move_to_end(p.id)
            return self._items[p.id]
        grey = self._items[p.id] = self._load(p)
        if len(self._items) > self._size:
            self._items.popitem(last=False)
        return grey
