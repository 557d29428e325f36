"""FLUX.1 Fill [dev] and FLUX.2 [klein] 4B transformer speed on a GPU, per VRAM plan.

    python bench/flux_gpu.py [--model fill|klein] [--steps 28] [--size 1024] [--budgets 8,12,16,24]
    python bench/flux_gpu.py --model klein --variants 4     # 1 vs 4 variants per call, per image
    python bench/flux_gpu.py --tiny [--model klein]   # a CPU smoke run of this script's code path

The transformer is built from the model's published config with random weights
(speed does not depend on the values); klein runs 4 steps by default. Text encoders and the VAE are left
out: per image they cost well under one transformer step. For each plan it prints
seconds per step and per image and peak VRAM, also under simulated smaller cards
(`torch.cuda.set_per_process_memory_fraction`), next to the compute floor: FLOPs
per step divided by the measured bf16 matmul rate.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# black-forest-labs/FLUX.1-Fill-dev transformer/config.json
FILL_DEV = dict(patch_size=1, in_channels=384, out_channels=64, num_layers=19, num_single_layers=38,
                attention_head_dim=128, num_attention_heads=24, joint_attention_dim=4096, pooled_projection_dim=768,
                guidance_embeds=True, axes_dims_rope=(16, 56, 56))
TINY = dict(patch_size=1, in_channels=20, out_channels=8, num_layers=1, num_single_layers=1, attention_head_dim=16,
            num_attention_heads=2, joint_attention_dim=32, pooled_projection_dim=32, guidance_embeds=True,
            axes_dims_rope=(4, 4, 8))
# black-forest-labs/FLUX.2-klein-4B transformer/config.json (5 double, 20 single blocks; Qwen3 embeddings 3 × 2560)
KLEIN_4B = dict(patch_size=1, in_channels=128, num_layers=5, num_single_layers=20, attention_head_dim=128,
                num_attention_heads=24, joint_attention_dim=7680, timestep_guidance_channels=256, mlp_ratio=3.0,
                axes_dims_rope=(32, 32, 32, 32), guidance_embeds=False)
TINY_KLEIN = dict(patch_size=1, in_channels=16, num_layers=1, num_single_layers=1, attention_head_dim=16,
                  num_attention_heads=2, joint_attention_dim=48, timestep_guidance_channels=32, mlp_ratio=3.0,
                  axes_dims_rope=(4, 4, 4, 4), guidance_embeds=False)
TEXT_TOKENS = 512


def flops_per_step(cfg: dict, image_tokens: int, text_tokens: int = TEXT_TOKENS) -> float:
    """Forward FLOPs of one transformer call (matmuls and attention; 2 FLOPs per MAC)."""
    d = cfg["attention_head_dim"] * cfg["num_attention_heads"]
    r = cfg.get("mlp_ratio", 4.0)
    n = image_tokens + text_tokens
    # double-stream block: qkv+out for both streams, MLP (r×, in and out) for both, joint attention
    double = 2 * (2 * image_tokens * d * 4 * d + 2 * image_tokens * d * 2 * r * d) \
        + 2 * (2 * text_tokens * d * 4 * d + 2 * text_tokens * d * 2 * r * d) + 2 * 2 * n * n * d
    # single-stream block: fused qkv + mlp in (3d + rd), out from (d + rd) to d, attention
    single = 2 * n * d * (3 + r) * d + 2 * n * (1 + r) * d * d + 2 * 2 * n * n * d
    return cfg["num_layers"] * double + cfg["num_single_layers"] * single


def matmul_rate(device: str, dtype) -> float:
    import torch

    n = 8192 if device == "cuda" else 512
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    if device == "cuda":
        torch.cuda.synchronize()
    reps = 20 if device == "cuda" else 3
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    if device == "cuda":
        torch.cuda.synchronize()
    return 2 * n**3 * reps / (time.perf_counter() - t0)


def run_plan(cfg: dict, plan_id: str, size: int, steps: int, device: str, budget_gb: float | None,
             batch: int = 1) -> dict:
    import torch
    from diffusers import Flux2Transformer2DModel, FluxTransformer2DModel

    klein = "mlp_ratio" in cfg
    model_cls = Flux2Transformer2DModel if klein else FluxTransformer2DModel

    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        total = torch.cuda.get_device_properties(0).total_memory / 1024**3
        torch.cuda.set_per_process_memory_fraction(min(1.0, (budget_gb or total) / total))
    with torch.device("meta"):
        model = model_cls(**cfg)
    model = model.to_empty(device="cpu").to(dtype)
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.02)
    if device == "cuda":
        base = plan_id.removeprefix("klein-")
        if base in ("bf16-resident", "bf16-model-offload"):
            model.to("cuda")  # for the transformer alone both plans keep it resident while it runs
        elif base in ("fp8-model-offload", "fp8-group-offload"):
            model.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=dtype)
            if base == "fp8-model-offload":
                model.to("cuda")
            else:
                model.enable_group_offload(onload_device=torch.device("cuda"), offload_device=torch.device("cpu"),
                                           offload_type="leaf_level", use_stream=True, low_cpu_mem_usage=True)
        elif base in ("sequential-offload", "bf16-sequential"):
            model.enable_group_offload(onload_device=torch.device("cuda"), offload_device=torch.device("cpu"),
                                       offload_type="leaf_level", use_stream=True, low_cpu_mem_usage=True)
        else:
            return {"plan": plan_id, "skipped": "needs bitsandbytes NF4 weights (not built here)"}
    lat = size // 16  # 8x VAE, 2x2 packing
    tokens = lat * lat
    c_in = cfg["in_channels"]
    x = torch.randn(batch, tokens, c_in, device=device, dtype=dtype)
    txt = torch.randn(batch, TEXT_TOKENS if device == "cuda" else 16, cfg["joint_attention_dim"], device=device,
                      dtype=dtype)
    axes = 4 if klein else 3
    img_ids = torch.zeros(tokens, axes, device=device)
    img_ids[:, 1] = torch.arange(lat, device=device).repeat_interleave(lat)
    img_ids[:, 2] = torch.arange(lat, device=device).repeat(lat)
    txt_ids = torch.zeros(txt.shape[1], axes, device=device)
    if klein:  # batched ids, no pooled text, no guidance embedding (step-distilled)
        img_ids, txt_ids = img_ids[None].expand(batch, -1, -1), txt_ids[None].expand(batch, -1, -1)

        def step(t: float):
            return model(hidden_states=x, encoder_hidden_states=txt, timestep=torch.full((batch,), t, device=device,
                                                                                         dtype=dtype),
                         img_ids=img_ids, txt_ids=txt_ids, guidance=None, return_dict=False)[0]
    else:
        pooled = torch.randn(batch, cfg["pooled_projection_dim"], device=device, dtype=dtype)
        guidance = torch.full((batch,), 30.0, device=device, dtype=dtype)

        def step(t: float):
            return model(hidden_states=x, encoder_hidden_states=txt, pooled_projections=pooled,
                         timestep=torch.full((batch,), t, device=device, dtype=dtype), img_ids=img_ids, txt_ids=txt_ids,
                         guidance=guidance, return_dict=False)[0]

    try:
        with torch.inference_mode():
            step(1.0)  # warm-up
            if device == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            for i in range(steps):
                step(1.0 - i / steps)
            if device == "cuda":
                torch.cuda.synchronize()
            per_step = (time.perf_counter() - t0) / steps
    except torch.cuda.OutOfMemoryError:
        return {"plan": plan_id, "budget_gb": budget_gb, "oom": True}
    peak = torch.cuda.max_memory_allocated() / 1024**3 if device == "cuda" else 0.0
    return {"plan": plan_id, "budget_gb": budget_gb, "s_per_step": per_step, "s_per_image": per_step * steps / batch,
            "peak_gb": peak, "tokens": tokens, "batch": batch}


def main() -> None:
    import torch

    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=["fill", "klein"], default="fill")
    ap.add_argument("--steps", type=int, help="default: 28 for fill, 4 for klein")
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--budgets", default="8,12,16,24")
    ap.add_argument("--tiny", action="store_true", help="tiny config on the CPU: checks this script only")
    ap.add_argument("--variants", type=int, default=0,
                    help="compare 1 and N variants per call on the first plan (Studio batches klein's variants)")
    args = ap.parse_args()
    device = "cuda" if torch.cuda.is_available() and not args.tiny else "cpu"
    klein = args.model == "klein"
    cfg = (TINY_KLEIN if klein else TINY) if args.tiny else (KLEIN_4B if klein else FILL_DEV)
    steps = 2 if args.tiny else (args.steps or (4 if klein else 28))
    size = 64 if args.tiny else args.size
    name = torch.cuda.get_device_name(0) if device == "cuda" else "CPU"
    rate = matmul_rate(device, torch.bfloat16 if device == "cuda" else torch.float32)
    tokens = (size // 16) ** 2
    floor = flops_per_step(cfg, tokens) / rate
    title = "FLUX.2 [klein] 4B" if klein else "FLUX.1 Fill [dev]"
    print(f"device: {name}; config: {'tiny ' if args.tiny else ''}{title}; {size}x{size}, {steps} steps")
    print(f"measured matmul rate: {rate / 1e12:.1f} TFLOP/s; FLOPs per step: {flops_per_step(cfg, tokens) / 1e12:.2f} T;"
          f" compute floor: {floor:.3f} s/step")
    plans = (["klein-bf16-resident", "klein-fp8-model-offload", "klein-bf16-sequential"] if klein else
             ["bf16-resident", "fp8-model-offload", "fp8-group-offload", "sequential-offload"])
    if args.variants > 1:
        variants_per_call(cfg, plans[0], size, steps, device, floor, args.variants)
        return
    budgets: list[float | None] = [None] + ([float(b) for b in args.budgets.split(",")] if device == "cuda" else [])
    print(f"{'plan':<22} {'budget':>7} {'s/step':>8} {'s/image':>8} {'peak GB':>8} {'x floor':>8}")
    for plan in plans if device == "cuda" else plans[:1]:
        for budget in budgets:
            r = run_plan(cfg, plan, size, steps, device, budget)
            label = f"{budget:g} GB" if budget else "full"
            if r.get("skipped") or r.get("oom"):
                print(f"{plan:<22} {label:>7} {'OOM' if r.get('oom') else r['skipped']}")
                continue
            print(f"{plan:<22} {label:>7} {r['s_per_step']:>8.3f} {r['s_per_image']:>8.2f} {r['peak_gb']:>8.2f} "
                  f"{r['s_per_step'] / floor:>8.1f}")


def variants_per_call(cfg: dict, plan: str, size: int, steps: int, device: str, floor: float, n: int) -> None:
    """Seconds per image with one variant per call and with n (a shoot's variants in one
    batch), next to the compute floor per image (the goal: within 1.5x of it with 4)."""
    print(f"{'variants/call':>13} {'s/step':>8} {'s/image':>8} {'peak GB':>8} {'x floor':>8}")
    for batch in (1, n):
        r = run_plan(cfg, plan, size, steps, device, None, batch)
        if r.get("skipped") or r.get("oom"):
            print(f"{batch:>13} {'OOM' if r.get('oom') else r['skipped']}")
            continue
        print(f"{batch:>13} {r['s_per_step']:>8.3f} {r['s_per_image']:>8.2f} {r['peak_gb']:>8.2f} "
              f"{r['s_per_image'] / (floor * steps):>8.2f}")


if __name__ == "__main__":
    main()
