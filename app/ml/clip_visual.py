"""Build only the image tower of an open_clip model, reading only its weights from the checkpoint.

Indexing never embeds text. Building the whole model and dropping the text tower afterwards still
peaks with both towers and the full state dict in memory (~1.2 GB more than needed for ViT-B-32);
this path never allocates them. Random init draws the same weights as the full model's image tower
(CLIP builds its vision tower first, under the same seed).
"""

from __future__ import annotations

from typing import Any

from app.ml.checkpoints import checkpoint_tensors

_PREPROCESS_OVERRIDES = {
    "image_mean": "mean",
    "image_std": "std",
    "image_interpolation": "interpolation",
    "image_resize_mode": "resize_mode",
}


class ImageTower:
    """Quacks like an open_clip model for ``encode_image`` (CLIP.encode_image is ``visual(x)``)."""

    def __init__(self, visual: Any) -> None:
        self.visual = visual

    def encode_image(self, images: Any) -> Any:
        return self.visual(images)


def _visual_state(checkpoint: str) -> dict[str, Any]:
    """The ``visual.*`` tensors of a checkpoint, without materialising the rest."""
    prefix = "visual."
    state = checkpoint_tensors(checkpoint, lambda k: k.startswith(prefix))
    return {k[len(prefix) :]: v for k, v in state.items()}


def build_image_tower(open_clip: Any, model_name: str, checkpoint: str | None, overrides: dict[str, Any]):
    """(ImageTower, eval preprocess transform) for ``model_name``, loaded from ``checkpoint`` if given."""
    from open_clip.model import _build_vision_tower
    from open_clip.transform import PreprocessCfg, image_transform_v2, merge_preprocess_dict

    cfg = open_clip.get_model_config(model_name)
    quick_gelu = bool(cfg.get("quick_gelu")) or bool(overrides.get("force_quick_gelu"))
    visual = _build_vision_tower(cfg["embed_dim"], cfg["vision_cfg"], quick_gelu=quick_gelu, cast_dtype=None)
    if checkpoint:
        visual.load_state_dict(_visual_state(checkpoint), strict=True)
    visual.eval()
    pp = merge_preprocess_dict(PreprocessCfg(), dict(cfg.get("preprocess_cfg", {})))
    pp = merge_preprocess_dict(pp, {"size": visual.image_size})
    pp = merge_preprocess_dict(pp, {v: overrides[k] for k, v in _PREPROCESS_OVERRIDES.items() if k in overrides})
    return ImageTower(visual), image_transform_v2(PreprocessCfg(**pp), is_train=False)
