"""Which PyTorch wheels fit this machine.

A pure function of what was detected (platform, NVIDIA driver version) so it can be
unit-tested for every combination. Standard library only: the launcher calls it
before anything is installed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass

# The pair this release is tested with. torchvision must match torch exactly.
TORCH_VERSION = "2.14.1"
TORCHVISION_VERSION = "0.29.1"

PYTORCH_INDEX = "https://download.pytorch.org/whl"

# (minimum driver major version, CUDA wheel tag), newest first. A driver runs every
# CUDA runtime up to the one it shipped with (NVIDIA's minor-version compatibility
# table); torch 2.14 publishes cu126, cu128 and cu130 wheels.
_CUDA_BY_DRIVER: tuple[tuple[int, str], ...] = (
    (580, "cu130"),
    (570, "cu128"),
    (560, "cu126"),
)
# PyPI's default Linux x86_64 wheel of this torch release is built for this CUDA.
_PYPI_LINUX_DEFAULT_CUDA = "cu130"
# The compute capabilities each CUDA build of torch 2.14 carries kernels for (its
# TORCH_CUDA_ARCH_LIST, oldest and newest): cu128 and cu130 dropped Maxwell, Pascal and
# Volta (sm_50 to sm_70); cu126 still has them but stops at Hopper (sm_90).
_ARCHES: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {
    "cu130": ((7, 5), (12, 1)),
    "cu128": ((7, 5), (12, 0)),
    "cu126": ((5, 0), (9, 0)),
}


@dataclass(frozen=True)
class TorchBuild:
    torch: str
    torchvision: str
    variant: str  # "cpu", "cu126", "cu128", "cu130", "mps"
    index_url: str | None  # None: the user's configured index (PyPI or its mirror)
    note: str

    def requirements(self) -> list[str]:
        return [f"torch=={self.torch}", f"torchvision=={self.torchvision}"]

    def pip_args(self) -> list[str]:
        args = self.requirements()
        if self.index_url:
            # --extra-index-url keeps the user's index for torch's own dependencies.
            args += ["--extra-index-url", self.index_url]
        return args

    def key(self) -> str:
        return f"torch=={self.torch};torchvision=={self.torchvision};{self.variant};{self.index_url or ''}"


def _driver_major(driver_version: str | None) -> int | None:
    if not driver_version:
        return None
    m = re.match(r"\s*(\d+)", driver_version)
    return int(m.group(1)) if m else None


def parse_compute_cap(text: str | None) -> tuple[int, int] | None:
    """nvidia-smi's `compute_cap` ("8.6") as (8, 6); None when absent or unreadable."""
    m = re.fullmatch(r"\s*(\d+)\.(\d+)\s*", text or "")
    return (int(m.group(1)), int(m.group(2))) if m else None


def builds_for(cap: tuple[int, int]) -> list[str]:
    """The CUDA builds whose kernels cover this compute capability, newest first."""
    return [tag for _, tag in _CUDA_BY_DRIVER if _ARCHES[tag][0] <= cap <= _ARCHES[tag][1]]


def choose_torch_build(system: str, machine: str, nvidia_driver: str | None,
                       compute_cap: str | None = None) -> TorchBuild:
    """Pick torch wheels for `system` ("Linux", "Windows", "Darwin"), `machine`
    ("x86_64", "AMD64", "arm64", ...), the NVIDIA driver version (None: no GPU) and the
    card's compute capability (nvidia-smi's "8.6"; None: unknown, the newest build the
    driver runs)."""
    base = dict(torch=TORCH_VERSION, torchvision=TORCHVISION_VERSION)
    if system == "Darwin":
        return TorchBuild(**base, variant="mps", index_url=None,
                          note="macOS: PyPI wheels (Apple GPU through MPS where present)")
    major = _driver_major(nvidia_driver)
    cap = parse_compute_cap(compute_cap)
    cuda = None
    if major is not None:
        runs = [tag for floor, tag in _CUDA_BY_DRIVER if major >= floor]
        fits = runs if cap is None else [tag for tag in runs if tag in builds_for(cap)]
        cuda = next(iter(fits), None)
        if not runs:
            note = (f"NVIDIA driver {nvidia_driver} is older than any CUDA build of torch "
                    f"{TORCH_VERSION} supports (needs >= {_CUDA_BY_DRIVER[-1][0]}); "
                    "using the CPU build. Update the driver to use the GPU.")
            return _cpu_build(system, machine, note)
        if cuda is None:
            wanted = builds_for(cap)
            if wanted:
                floor = dict((tag, f) for f, tag in _CUDA_BY_DRIVER)[wanted[-1]]
                why = f"update the driver to {floor} or newer for the {wanted[-1]} build, which has them"
            else:
                why = "no build of this torch release has them"
            note = (f"this card (compute capability {cap[0]}.{cap[1]}) has no kernels in the CUDA builds "
                    f"driver {nvidia_driver} runs ({', '.join(runs)}); using the CPU build: {why}.")
            return _cpu_build(system, machine, note)
    if cuda is None:
        return _cpu_build(system, machine, "no NVIDIA GPU found: CPU build")
    if system == "Linux" and machine in ("x86_64", "AMD64") and cuda == _PYPI_LINUX_DEFAULT_CUDA:
        return TorchBuild(**base, variant=cuda, index_url=None,
                          note=f"NVIDIA driver {nvidia_driver}: PyPI's {cuda} wheels")
    return TorchBuild(**base, variant=cuda, index_url=f"{PYTORCH_INDEX}/{cuda}",
                      note=f"NVIDIA driver {nvidia_driver}: {cuda} wheels")


def _cpu_build(system: str, machine: str, note: str) -> TorchBuild:
    base = dict(torch=TORCH_VERSION, torchvision=TORCHVISION_VERSION)
    if system == "Linux" and machine in ("x86_64", "AMD64"):
        # PyPI's Linux wheels are CUDA builds that also run on the CPU; the small
        # CPU-only wheels live on PyTorch's own index, which not every network reaches.
        # STUDIO_TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu selects them.
        return TorchBuild(**base, variant="cpu", index_url=None,
                          note=note + " (PyPI wheels, which run on the CPU)")
    return TorchBuild(**base, variant="cpu", index_url=None, note=note)


def _nvidia_smi(query: str) -> str | None:
    """The first card's answer to `nvidia-smi --query-gpu=QUERY` (no header, no units),
    or None when there is no NVIDIA driver or it does not answer."""
    exe = shutil.which("nvidia-smi")
    if not exe:
        return None
    try:
        out = subprocess.run([exe, f"--query-gpu={query}", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=15)
    except (OSError, subprocess.TimeoutExpired):
        return None
    line = out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else ""
    return line.strip() or None


def detect_nvidia_driver() -> str | None:
    """The NVIDIA driver version from nvidia-smi, or None when there is none."""
    return _nvidia_smi("driver_version")


def detect_compute_cap() -> str | None:
    """The first card's compute capability ("8.6") from nvidia-smi (drivers from 510 on
    answer it), or None."""
    return _nvidia_smi("compute_cap")


def detect_nvidia_memory_gb() -> float | None:
    """The first NVIDIA card's memory in GB from nvidia-smi, or None when there is none."""
    mib = _nvidia_smi("memory.total")
    try:
        return float(mib) / 1024 if mib else None
    except ValueError:
        return None


# Cards under this run the 4-bit (NF4) plans, which need bitsandbytes (the `quant` extra).
QUANT_BELOW_GB = 24.0


def quant_extra(memory_gb: float | None) -> bool:
    """Whether this machine's card needs the 4-bit plans (an NVIDIA card under 24 GB)."""
    return memory_gb is not None and memory_gb < QUANT_BELOW_GB


def apply_override(build: TorchBuild, env: dict[str, str] | None = None) -> TorchBuild:
    """STUDIO_TORCH_INDEX_URL forces an index (e.g. the CPU-only wheels)."""
    env = os.environ if env is None else env
    url = env.get("STUDIO_TORCH_INDEX_URL", "").strip()
    if not url:
        return build
    variant = url.rstrip("/").rsplit("/", 1)[-1]
    return TorchBuild(build.torch, build.torchvision, variant, url, f"index from STUDIO_TORCH_INDEX_URL: {url}")
