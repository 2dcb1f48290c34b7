"""The query image of a crop/image search, decoded once for both the exact and the semantic path."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from app.core.errors import BadInputError
from app.core.models import Box, SearchQuery
from app.imaging.decode import DecodeError, decode_bytes, read_file
from app.storage.repository import PhotoRepository

QUERY_WORK_SIZE = 1024  # long side; crops are usually smaller and keep their pixels


@dataclass(slots=True)
class QueryImage:
    """RGB, EXIF-oriented query pixels, and where they came from when cut from a library photo."""

    image: Image.Image
    source_photo_id: int | None = None
    source_box: Box | None = None


def load_query_image(query: SearchQuery, repo: PhotoRepository, max_pixels: int) -> QueryImage | None:
    """Decode the query's image or cut its region from a library photo; None for text-only queries.

    Raises:
        BadInputError: the file is missing or not a readable image, or the region is not in the library.
    """
    if query.region is not None:
        photo = repo.photo(query.region.photo_id)
        if photo is None:
            raise BadInputError(f"no photo with id {query.region.photo_id} in the library")
        try:
            decoded = decode_bytes(read_file(Path(photo.path)), work_size=4096, max_pixels=max_pixels)
        except DecodeError as exc:
            raise BadInputError(f"cannot read {photo.path}: {exc}") from exc
        s = decoded.image.width / decoded.width
        x0, y0, x1, y1 = query.region.box
        x0, x1 = sorted((max(0.0, x0), min(float(decoded.width), x1)))
        y0, y1 = sorted((max(0.0, y0), min(float(decoded.height), y1)))
        if x1 - x0 < 8 or y1 - y0 < 8:
            raise BadInputError("the selected region is too small to search for (at least 8x8 pixels)")
        crop = decoded.image.crop(
            (int(x0 * s), int(y0 * s), max(int(x0 * s) + 1, round(x1 * s)), max(int(y0 * s) + 1, round(y1 * s)))
        )
        return QueryImage(_limit(crop), photo.id, (x0, y0, x1, y1))
    if query.image is None:
        return None
    if isinstance(query.image, bytes):
        data, name = query.image, "the dropped image"
    else:
        path = Path(query.image).expanduser()
        if not path.is_file():
            raise BadInputError(f"no such image file: {query.image}")
        data, name = read_file(path), str(query.image)
    try:
        decoded = decode_bytes(data, work_size=QUERY_WORK_SIZE, max_pixels=max_pixels)
    except DecodeError as exc:
        raise BadInputError(f"cannot use {name} as a query: {exc}") from exc
    return QueryImage(decoded.image)


def _limit(img: Image.Image) -> Image.Image:
    if max(img.size) > QUERY_WORK_SIZE:
        img = img.copy()
        img.thumbnail((QUERY_WORK_SIZE, QUERY_WORK_SIZE), Image.Resampling.BILINEAR)
    return img
