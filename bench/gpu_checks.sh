#!/usr/bin/env bash
# The GPU checks in one run, for a session lent a GPU machine (see bench/RESULTS.md):
# the CUDA-marked tests and the FLUX transformers' speed per VRAM plan. Packages the
# machine lacks travel as wheels in .whl/ (downloaded beside it; see the device notes).
#     OUT=/tmp/gpu bash bench/gpu_checks.sh
set -o pipefail
OUT=${OUT:-/tmp/gpu-checks}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
if [ -d .whl ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        || exit 1
    export PYTHONPATH=/tmp/site:$PWD
else
    export PYTHONPATH=$PWD
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch, diffusers, transformers; print('torch', torch.__version__, 'diffusers', diffusers.__version__,
'transformers', transformers.__version__)" | tee -a "$OUT/gpu.txt"
timeout 240 python3 -m pytest -q -p no:cacheprovider -m cuda -rs tests/test_flux.py tests/test_klein.py \
    tests/test_product_clips.py 2>&1 | tee "$OUT/cuda-tests.log"
timeout "${KLEIN_S:-200}" python3 bench/flux_gpu.py --model klein --budgets "${BUDGETS:-8,24}" 2>&1 | tee "$OUT/klein.log"
timeout 120 python3 bench/flux_gpu.py --model klein --variants 4 2>&1 | tee "$OUT/klein-variants.log"
timeout 120 python3 bench/upscale.py 2>&1 | tee "$OUT/upscale.log"
[ -n "$FILL" ] && timeout 300 python3 bench/flux_gpu.py --model fill --steps 8 --budgets 24 2>&1 | tee "$OUT/fill.log"
true
