"""A tiny random-config FLUX.1 Fill pipeline made of the real classes, saved like the
real repository (model_index.json + one folder per component). Tokenizers are built
locally with the `tokenizers` library: nothing is downloaded."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path


def _bytes_to_unicode() -> dict[int, str]:
    # GPT-2/CLIP's reversible byte → printable character table
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs], strict=True))


def clip_tokenizer(folder: Path):
    from transformers import CLIPTokenizer

    chars = list(_bytes_to_unicode().values())
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": 256 + i for i, c in enumerate(chars)})
    vocab.update({"<|startoftext|>": 512, "<|endoftext|>": 513})
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    # the real repository's tokenizer declares CLIP's 77-token context
    return CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=77)


def t5_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    words = "a an the of on in with and product photograph professional standing marble table wall light soft".split()
    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2} | {w: i + 3 for i, w in enumerate(words)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>", eos_token="</s>",
                                   model_max_length=512)


def build_tiny_flux_fill(folder: Path) -> Path:
    import torch
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxFillPipeline, FluxTransformer2DModel
    from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

    torch.manual_seed(0)
    transformer = FluxTransformer2DModel(patch_size=1, in_channels=20, out_channels=8, num_layers=1,
                                         num_single_layers=1, attention_head_dim=16, num_attention_heads=2,
                                         joint_attention_dim=32, pooled_projection_dim=32, axes_dims_rope=[4, 4, 8])
    text_encoder = CLIPTextModel(CLIPTextConfig(bos_token_id=512, eos_token_id=513, hidden_size=32,
                                                intermediate_size=37, layer_norm_eps=1e-05, num_attention_heads=4,
                                                num_hidden_layers=2, pad_token_id=513, vocab_size=1000,
                                                hidden_act="gelu", projection_dim=32))
    text_encoder_2 = T5EncoderModel(T5Config(vocab_size=1000, d_model=32, d_kv=8, d_ff=37, num_layers=2,
                                             num_heads=4, relative_attention_num_buckets=8, pad_token_id=0,
                                             eos_token_id=1, decoder_start_token_id=0))
    vae = AutoencoderKL(sample_size=32, in_channels=3, out_channels=3, block_out_channels=(4,), layers_per_block=1,
                        latent_channels=2, norm_num_groups=1, use_quant_conv=False, use_post_quant_conv=False,
                        shift_factor=0.0609, scaling_factor=1.5035)
    with tempfile.TemporaryDirectory() as scratch:
        tokenizer = clip_tokenizer(Path(scratch))
    pipe = FluxFillPipeline(scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, text_encoder=text_encoder,
                            tokenizer=tokenizer, text_encoder_2=text_encoder_2, tokenizer_2=t5_tokenizer(),
                            transformer=transformer)
    pipe.save_pretrained(folder)
    return folder


def build_tiny_sdxl_inpaint(folder: Path) -> Path:
    """A tiny SDXL inpainting pipeline (9-channel UNet like the real inpainting model)."""
    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLInpaintPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(0)
    unet = UNet2DConditionModel(block_out_channels=(32, 64), layers_per_block=2, sample_size=32, in_channels=9,
                                out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), attention_head_dim=(2, 4),
                                use_linear_projection=True, addition_embed_type="text_time", addition_time_embed_dim=8,
                                transformer_layers_per_block=(1, 2), projection_class_embeddings_input_dim=80,
                                cross_attention_dim=64)
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, steps_offset=1,
                                       beta_schedule="scaled_linear", timestep_spacing="leading")
    vae = AutoencoderKL(block_out_channels=[32, 64], in_channels=3, out_channels=3,
                        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
                        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"], latent_channels=4, sample_size=128)
    cfg = CLIPTextConfig(bos_token_id=512, eos_token_id=513, hidden_size=32, intermediate_size=37,
                         layer_norm_eps=1e-05, num_attention_heads=4, num_hidden_layers=2, pad_token_id=513,
                         vocab_size=1000, hidden_act="gelu", projection_dim=32)
    with tempfile.TemporaryDirectory() as scratch:
        tok1, tok2 = clip_tokenizer(Path(scratch) / "a"), clip_tokenizer(Path(scratch) / "b")
    pipe = StableDiffusionXLInpaintPipeline(vae=vae, text_encoder=CLIPTextModel(cfg),
                                            text_encoder_2=CLIPTextModelWithProjection(cfg), tokenizer=tok1,
                                            tokenizer_2=tok2, unet=unet, scheduler=scheduler,
                                            requires_aesthetics_score=False, force_zeros_for_empty_prompt=True)
    pipe.save_pretrained(folder)
    return folder


def qwen_tokenizer():
    """A Qwen2 fast tokenizer built locally, with a chat template (the klein pipeline
    wraps the prompt as a chat message, as Qwen3's template does)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import Qwen2TokenizerFast

    words = ("a an the of on in with and product photograph professional standing marble table wall light soft "
             "bottle box mug red blue green white user assistant").split()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<unk>"]
    tok = Tokenizer(models.WordLevel({t: i for i, t in enumerate(specials + words)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    qwen = Qwen2TokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<|endoftext|>",
                              eos_token="<|im_end|>", bos_token=None, model_max_length=512)
    qwen.chat_template = ("{% for message in messages %}<|im_start|>{{ message['role'] }} {{ message['content'] }}"
                          "<|im_end|> {% endfor %}{% if add_generation_prompt %}<|im_start|>assistant {% endif %}")
    return qwen


def build_tiny_flux2_klein(folder: Path) -> Path:
    """A tiny FLUX.2 [klein] made of the real classes, saved as the real repository is:
    its model_index names the text-to-image `Flux2KleinPipeline`, step-distilled
    (`is_distilled`); the text encoder is a Qwen3 with 28 layers (the pipeline reads
    hidden layers 9, 18 and 27, as for the real one)."""
    import torch
    from diffusers import (
        AutoencoderKLFlux2,
        FlowMatchEulerDiscreteScheduler,
        Flux2KleinPipeline,
        Flux2Transformer2DModel,
    )
    from transformers import Qwen3Config, Qwen3ForCausalLM

    torch.manual_seed(0)
    hidden = 16
    text_encoder = Qwen3ForCausalLM(Qwen3Config(vocab_size=64, hidden_size=hidden, intermediate_size=32,
                                                num_hidden_layers=28, num_attention_heads=2, num_key_value_heads=1,
                                                head_dim=8, max_position_embeddings=1024, tie_word_embeddings=True))
    transformer = Flux2Transformer2DModel(patch_size=1, in_channels=16, num_layers=1, num_single_layers=1,
                                          attention_head_dim=16, num_attention_heads=2, joint_attention_dim=3 * hidden,
                                          timestep_guidance_channels=32, axes_dims_rope=(4, 4, 4, 4),
                                          guidance_embeds=False)
    vae = AutoencoderKLFlux2(block_out_channels=(8,), down_block_types=("DownEncoderBlock2D",),
                             up_block_types=("UpDecoderBlock2D",), layers_per_block=1, latent_channels=4,
                             norm_num_groups=4, sample_size=32)
    pipe = Flux2KleinPipeline(scheduler=FlowMatchEulerDiscreteScheduler(use_dynamic_shifting=True), vae=vae,
                              text_encoder=text_encoder, tokenizer=qwen_tokenizer(), transformer=transformer,
                              is_distilled=True)
    pipe.save_pretrained(folder)
    return folder


def plant_in_hf_cache(hub: Path, repo_id: str, build, revision: str = "fedcba9876543210") -> Path:
    """A model built by `build(folder)` where huggingface_hub leaves a download."""
    base = hub / f"models--{repo_id.replace('/', '--')}"
    snap = build(base / "snapshots" / revision)
    (base / "refs").mkdir(parents=True, exist_ok=True)
    (base / "refs" / "main").write_text(revision)
    return snap
