"""Crop-search facade: exact (geometric) hits for image and region queries. Owned by the crop-search issue."""

from __future__ import annotations

from pathlib import Path

from app.core.models import Box, RegionQuery, SearchQuery, SearchResults
from app.services.search import SearchMixin


class CropSearchMixin(SearchMixin):
    def search_image(self, image: Path | str | bytes, top: int | None = None) -> SearchResults:
        """Photos containing ``image`` (a file or encoded bytes), verified hits first, each with its box."""
        return self.search(SearchQuery(image=str(image) if isinstance(image, Path) else image, top=top))

    def search_region(self, photo_id: int, box: Box, top: int | None = None) -> SearchResults:
        """The same search with the query cut from an indexed photo; that photo itself is left out."""
        return self.search(SearchQuery(region=RegionQuery(photo_id, box), top=top))
