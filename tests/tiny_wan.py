"""A tiny random-config Wan 2.2 TI2V model saved like the real
`Wan-AI/Wan2.2-TI2V-5B-Diffusers`: its model_index names `WanPipeline` (the repo ships
the text-to-video class; image-to-video loads the same parts), `expand_timesteps` is
true (TI2V conditions on the first frame through its latents, so there is no CLIP image
encoder), `transformer_2` is empty, the VAE is the Wan 2.2 one (48 latent channels,
2×2 patching, 16× spatial), the scheduler is UniPC and the text encoder UMT5."""

from __future__ import annotations

import json
from pathlib import Path

from tests.tiny_flux import t5_tokenizer


def build_tiny_wan_ti2v(folder: Path) -> Path:
    import torch
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanPipeline, WanTransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel

    torch.manual_seed(0)
    z = 48
    vae = AutoencoderKLWan(base_dim=8, decoder_base_dim=8, z_dim=z, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           temperal_downsample=[False, True, True], is_residual=True, in_channels=12,
                           out_channels=12, patch_size=2, scale_factor_temporal=4, scale_factor_spatial=16,
                           latents_mean=[0.0] * z, latents_std=[1.0] * z)
    transformer = WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=8,
                                        in_channels=z, out_channels=z, text_dim=32, freq_dim=16, ffn_dim=32,
                                        num_layers=1, rope_max_seq_len=32)
    text_encoder = UMT5EncoderModel(UMT5Config(vocab_size=1000, d_model=32, d_kv=8, d_ff=37, num_layers=1,
                                               num_heads=4, relative_attention_num_buckets=8))
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=5.0)
    pipe = WanPipeline(tokenizer=t5_tokenizer(), text_encoder=text_encoder, vae=vae, scheduler=scheduler,
                       transformer=transformer, expand_timesteps=True)
    pipe.save_pretrained(folder)
    index = json.loads((folder / "model_index.json").read_text())
    assert index["_class_name"] == "WanPipeline" and index["expand_timesteps"] is True
    return folder
