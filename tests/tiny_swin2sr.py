"""Tiny random-config Swin2SR checkpoints built with transformers' own classes and saved
as the real CAIDAS repositories hold them: `config.json` (the real one's upsampler for
each flavour: pixelshuffle for the classical ×2, nearest+conv for the real-world ×4,
pixelshuffle_aux for the compressed-JPEG ×4), `preprocessor_config.json`, and the
weights under the real file name (model.safetensors for ×2; only pytorch_model.bin on
the ×4 repositories' main branch)."""

from __future__ import annotations

from pathlib import Path

FLAVOURS = {
    "caidas/swin2SR-classical-sr-x2-64": (2, "pixelshuffle", True),
    "caidas/swin2SR-realworld-sr-x4-64-bsrgan-psnr": (4, "nearest+conv", False),
    "caidas/swin2SR-compressed-sr-x4-48": (4, "pixelshuffle_aux", False),
}


def build_tiny_swin2sr(folder: Path, repo_id: str = "caidas/swin2SR-classical-sr-x2-64", seed: int = 0) -> Path:
    import torch
    from transformers import Swin2SRConfig, Swin2SRForImageSuperResolution, Swin2SRImageProcessor

    scale, upsampler, safetensors = FLAVOURS[repo_id]
    torch.manual_seed(seed)
    config = Swin2SRConfig(image_size=64, embed_dim=16, depths=[1, 1], num_heads=[2, 2], window_size=8,
                           upscale=scale, upsampler=upsampler, mlp_ratio=2.0)
    model = Swin2SRForImageSuperResolution(config).eval()
    model.save_pretrained(folder)
    if not safetensors:  # the ×4 repositories' main branch: a pickled state dict only
        folder = Path(folder)
        torch.save(model.state_dict(), folder / "pytorch_model.bin")
        (folder / "model.safetensors").unlink()
    Swin2SRImageProcessor(do_rescale=True, rescale_factor=1 / 255, do_pad=True, pad_size=8).save_pretrained(folder)
    return Path(folder)
