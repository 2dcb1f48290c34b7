"""Decode a photo once: read the bytes, hash them, JPEG-draft to the working size, apply EXIF orientation.

Everything downstream (thumbnail, hashes, detector input, CLIP crops) uses the returned image.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from app.core.errors import BadInputError

_ORIENTATION_TAG = 0x0112
_DATETIME_ORIGINAL = 0x9003
_DATETIME = 0x0132
_EXIF_IFD = 0x8769


class DecodeError(BadInputError):
    """The file is not a photo we can read; the message says why, in a few words."""


@dataclass(slots=True)
class DecodedImage:
    """The one decoded image of a photo plus what is needed to map it back to photo pixels."""

    image: Image.Image  # RGB, EXIF-oriented, long side <= the working size
    width: int  # full-resolution size after EXIF orientation: boxes are stored in these pixels
    height: int
    format: str
    taken_at: str | None = None

    @property
    def scale(self) -> float:
        """Photo pixels per working-image pixel."""
        return self.width / self.image.width


def content_hash(data: bytes) -> str:
    """Hash of the file's bytes: identical files share it, moves are recognised by it."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def read_file(path: Path) -> bytes:
    """Read a photo's bytes once; empty files are a decode error, not an exception to retry."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DecodeError(f"cannot read file: {exc.strerror or exc}") from exc
    if not data:
        raise DecodeError("empty file (0 bytes)")
    return data


def _taken_at(exif: Image.Exif) -> str | None:
    value = exif.get_ifd(_EXIF_IFD).get(_DATETIME_ORIGINAL) or exif.get(_DATETIME)
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    return value.strip("\x00 ") or None if isinstance(value, str) else None


def decode_bytes(data: bytes, work_size: int = 1024, max_pixels: int = 178_000_000) -> DecodedImage:
    """Decode ``data`` to an EXIF-oriented RGB image whose long side is at most ``work_size``.

    Raises:
        DecodeError: the bytes are not a readable image, are truncated, or exceed ``max_pixels``.
    """
    try:
        with warnings.catch_warnings():
            # Our own pixel limit below decides; Pillow's warning would only be noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            w, h = img.size
            if w * h > max_pixels:
                raise DecodeError(f"image too large ({w}x{h} pixels; limit {max_pixels})")
            exif = img.getexif()
            orientation = exif.get(_ORIENTATION_TAG, 1)
            fmt = img.format or "?"
            long_side = max(w, h)
            if img.format == "JPEG" and long_side > work_size:
                # draft() picks the largest DCT scaling that stays >= the requested size, so ask
                # for the exact size that makes the long side work_size: up to 8x less to decode.
                ratio = work_size / long_side
                img.draft("RGB", (max(1, round(w * ratio)), max(1, round(h * ratio))))
            if getattr(img, "n_frames", 1) > 1:
                img.seek(0)
            img.load()
            if img.mode != "RGB":
                img = _to_rgb(img)
            if max(img.size) > work_size:
                img.thumbnail((work_size, work_size), Image.Resampling.BILINEAR, reducing_gap=2.0)
            if orientation in (2, 3, 4, 5, 6, 7, 8):
                img = ImageOps.exif_transpose(img)
    except DecodeError:
        raise
    except Image.DecompressionBombError as exc:
        raise DecodeError(f"image too large (decompression bomb guard): {exc}") from exc
    except UnidentifiedImageError as exc:
        raise DecodeError("not an image, or a format Shoebox cannot read") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise DecodeError(f"corrupt or truncated image: {exc}") from exc
    if orientation in (5, 6, 7, 8):
        w, h = h, w
    return DecodedImage(img, w, h, fmt, _taken_at(exif) if exif else None)


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
        # Composite transparency on white, as a viewer shows it, rather than on black.
        rgba = img.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, (255, 255, 255))
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        return img.point(lambda v: v / 256).convert("L").convert("RGB")
    return img.convert("RGB")


def decode_file(path: Path, work_size: int = 1024, max_pixels: int = 178_000_000) -> tuple[str, DecodedImage]:
    """Read and decode a file; returns (content hash, decoded image)."""
    data = read_file(path)
    return content_hash(data), decode_bytes(data, work_size, max_pixels)
