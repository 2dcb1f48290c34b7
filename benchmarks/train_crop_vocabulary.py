"""Train the crop-search coarse vocabulary: binary k-means centroids of index codes from the corpus.

The centroids (``resources/crop_vocabulary.npy``) are the coarse quantizer of the FAISS IVF that
large libraries use; every keypoint's nearest centroid is computed when its photo is indexed and
stored with it, so opening a large library never re-assigns millions of codes. Any reasonable
clustering of RootSIFT codes works (cells only need to keep near codes together); changing the file
changes stored cells, so it goes with a new ``FEATURES_VERSION``.

    python -m benchmarks.train_crop_vocabulary
"""

from __future__ import annotations

import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import faiss
import numpy as np

from app.imaging.decode import decode_bytes, read_file
from app.imaging.local_features import VOCABULARY_CELLS, VOCABULARY_PATH, index_features
from benchmarks.common import corpus_photos


def _codes(path: Path) -> np.ndarray:
    d = decode_bytes(read_file(path))
    return index_features(d.image, d.width, with_cells=False).codes


def main() -> None:
    paths = corpus_photos()
    with ProcessPoolExecutor(2) as pool:
        codes = np.vstack(list(pool.map(_codes, paths, chunksize=16)))
    rng = np.random.default_rng(0)
    sample = codes[rng.choice(len(codes), min(len(codes), VOCABULARY_CELLS * 40), replace=False)]
    ivf = faiss.IndexBinaryIVF(faiss.IndexBinaryFlat(codes.shape[1] * 8), codes.shape[1] * 8, VOCABULARY_CELLS)
    ivf.cp.niter = 15
    ivf.train(np.ascontiguousarray(sample))
    cents = faiss.vector_to_array(faiss.downcast_IndexBinary(ivf.quantizer).xb).reshape(VOCABULARY_CELLS, -1)
    np.save(VOCABULARY_PATH, cents)
    print(f"{len(codes)} codes from {len(paths)} photos -> {VOCABULARY_PATH}", file=sys.stderr)


if __name__ == "__main__":
    main()
