"""Build only the text tower of an open_clip model, reading only its weights from the checkpoint.

Searching never embeds images with this model object (the indexer's image-only encoder does that), so
the search process needs the text half only: about 0.35 GB less than the full ViT-B-32 with real
weights, and a faster cold start. Plain CLIP models keep the text weights at the top level of the
state dict (``token_embedding``, ``transformer.*``, ...), which is exactly the key layout of
open_clip's ``TextTransformer``; models with a Hugging Face text tower (the multilingual
``xlm-roberta-*`` ones) keep them under ``text.*``.

Random init (``pretrained=none``) builds the text tower alone under the shared seed: deterministic in
every process, but not the same random weights as the full model's text tower (CLIP builds its vision
tower first). Random weights are meaningless either way.
"""

from __future__ import annotations

from typing import Any

from app.ml.checkpoints import checkpoint_tensors

_NOT_TEXT = ("visual.", "logit_scale", "logit_bias")


class TextTower:
    """Quacks like an open_clip model for ``encode_text`` (both CLIP flavours call the text module).

    CLIP pads every query to 77 tokens, but its text transformer is causal and pools at the
    end-of-text token (the largest id), so the positions after it never influence the result. Running
    only up to the longest query's end-of-text token gives the same vector for ~1/6 of the compute on
    a short query. Not thread-safe (it narrows the mask for one call): ClipEncoder runs forwards one
    at a time.
    """

    def __init__(self, text: Any) -> None:
        self.text = text
        mask = getattr(text, "attn_mask", None)
        self._trim = (
            mask is not None
            and getattr(text, "cls_emb", None) is None
            and not getattr(text, "use_pad_mask", False)
            and getattr(text, "pool_type", None) == "argmax"
        )

    def encode_text(self, tokens: Any) -> Any:
        if not self._trim:
            return self.text(tokens)
        length = int(tokens.argmax(dim=-1).max()) + 1
        full = self.text.attn_mask
        try:
            self.text.attn_mask = full[:length, :length]
            return self.text(tokens[:, :length])
        finally:
            self.text.attn_mask = full


def _text_state(checkpoint: str, hf_text: bool) -> dict[str, Any]:
    """The text tower's tensors of a checkpoint, renamed to the tower's own keys."""
    state = checkpoint_tensors(checkpoint, lambda k: not k.startswith(_NOT_TEXT))
    if not hf_text:
        return state
    return {k[5:]: v for k, v in state.items() if k.startswith("text.")}


def build_text_tower(open_clip: Any, model_name: str, checkpoint: str | None, overrides: dict[str, Any]):
    """(TextTower in eval mode, tokenizer) for ``model_name``, loaded from ``checkpoint`` if given."""
    from open_clip.model import _build_text_tower

    cfg = open_clip.get_model_config(model_name)
    text_cfg = dict(cfg["text_cfg"])
    hf_text = bool(text_cfg.get("hf_model_name"))
    if hf_text:
        # Our checkpoint holds the whole tower; never fetch the base language model's weights too.
        text_cfg["hf_model_pretrained"] = False
    quick_gelu = bool(cfg.get("quick_gelu")) or bool(overrides.get("force_quick_gelu"))
    text = _build_text_tower(cfg["embed_dim"], text_cfg, quick_gelu=quick_gelu, cast_dtype=None)
    if checkpoint:
        text.load_state_dict(_text_state(checkpoint, hf_text), strict=not hf_text)
    text.eval()
    return TextTower(text), open_clip.get_tokenizer(model_name)
