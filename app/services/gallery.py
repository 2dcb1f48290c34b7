"""Gallery facade: what the window lists and shows (sorted photos, thumbnails, folder states, photo
details) and forgetting a folder. Owned by the window issue; SQL lives in ``storage/gallery_repo.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

from PIL import ExifTags, Image

from app.core.errors import BadInputError, LibraryBusyError
from app.core.gallery import FolderSummary, GalleryItem, SortOrder
from app.services.library import LibraryCore
from app.storage.gallery_repo import GalleryRepository

_EXIF_FIELDS = {  # EXIF tag -> label shown in the viewer
    "Make": "Camera make",
    "Model": "Camera",
    "LensModel": "Lens",
    "FNumber": "Aperture",
    "ExposureTime": "Exposure",
    "ISOSpeedRatings": "ISO",
    "FocalLength": "Focal length",
}


class GalleryMixin(LibraryCore):
    @property
    def _gallery(self) -> GalleryRepository:
        return GalleryRepository(self.repo)

    def photos(self, sort: SortOrder | str = SortOrder.DATE, folder_id: int | None = None) -> list[GalleryItem]:
        """Indexed and failed photos (all, or one folder's), sorted; pending ones appear once indexed.

        One query and one sort: about 0.3 s for 100,000 photos, so callers run it off the UI thread.
        """
        items = self._gallery.listing(folder_id)
        order = SortOrder(sort)
        if order is SortOrder.DATE:
            items.sort(key=lambda i: (i.date_key, i.path), reverse=True)
        elif order is SortOrder.NAME:
            items.sort(key=lambda i: (i.name.casefold(), i.path))
        else:
            items.sort(key=lambda i: i.path)
        return items

    def photo_item(self, photo_id: int) -> GalleryItem | None:
        return self._gallery.item(photo_id)

    def thumbnail_path(self, item: GalleryItem) -> Path | None:
        """The on-disk thumbnail the indexer wrote, or None when there is none (yet)."""
        if not item.content_hash:
            return None
        path = self.paths.thumbnail_for(item.content_hash)
        return path if path.is_file() else None

    def folder_summaries(self) -> list[FolderSummary]:
        counts = self._gallery.folder_counts()
        out = []
        for f in self.repo.folders():
            c = counts.get(f.id, {})
            out.append(
                FolderSummary(
                    f.id,
                    f.path,
                    c.get("photos", 0),
                    c.get("indexed", 0),
                    c.get("pending", 0),
                    c.get("failed", 0),
                    os.path.isdir(f.path),
                )
            )
        return out

    def remove_folder(self, folder_id: int) -> int:
        """Forget a folder and its photos in the index. Files on disk are never touched.

        Returns:
            How many photos were forgotten.

        Raises:
            LibraryBusyError: another process is the library's writer.
            BadInputError: no such folder in the library.
        """
        if not self.is_writer:
            raise LibraryBusyError(f"another Shoebox process is writing {self.paths.root}; try again later")
        if folder_id not in {f.id for f in self.repo.folders()}:
            raise BadInputError(f"no library folder with id {folder_id}")
        changes = self._gallery.remove_folder(folder_id)
        self.vectors.apply(changes)
        self.vectors.save()
        return sum(len(v) for v in changes.removed.values())

    def photo_details(self, item: GalleryItem) -> dict[str, str]:
        """EXIF basics for the viewer's info panel (camera, exposure, ...); empty where a file has none."""
        out: dict[str, str] = {}
        if item.width and item.height:
            out["Dimensions"] = f"{item.width} × {item.height}"
        if item.taken_at:
            out["Taken"] = item.taken_at.replace(":", "-", 2)
        out["File size"] = f"{item.size / 1e6:.1f} MB" if item.size >= 1e5 else f"{item.size / 1e3:.0f} kB"
        try:
            with Image.open(item.path) as im:
                exif = im.getexif()
                merged = {**exif, **exif.get_ifd(ExifTags.IFD.Exif)}
        except (OSError, ValueError, SyntaxError):
            return out
        for tag_id, value in merged.items():
            label = _EXIF_FIELDS.get(ExifTags.TAGS.get(tag_id, ""))
            if label and value not in (None, ""):
                out[label] = _format_exif(ExifTags.TAGS[tag_id], value)
        return out


def _format_exif(tag: str, value: object) -> str:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if tag == "FNumber":
        return f"f/{float(value):.1f}"  # type: ignore[arg-type]
    if tag == "ExposureTime":
        v = float(value)  # type: ignore[arg-type]
        return f"1/{round(1 / v)} s" if 0 < v < 1 else f"{v:g} s"
    if tag == "FocalLength":
        return f"{float(value):g} mm"  # type: ignore[arg-type]
    return str(value).strip("\x00 ")
