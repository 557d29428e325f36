import pytest

from installer.torch_build import TORCH_VERSION, TORCHVISION_VERSION, apply_override, choose_torch_build


@pytest.mark.parametrize(
    "system,machine,driver,variant,index",
    [
        ("Linux", "x86_64", None, "cpu", None),
        ("Linux", "x86_64", "580.65.06", "cu130", None),
        ("Linux", "x86_64", "575.51.03", "cu128", "https://download.pytorch.org/whl/cu128"),
        ("Linux", "x86_64", "560.35.03", "cu126", "https://download.pytorch.org/whl/cu126"),
        ("Linux", "aarch64", "580.1", "cu130", "https://download.pytorch.org/whl/cu130"),
        ("Windows", "AMD64", None, "cpu", None),
        ("Windows", "AMD64", "581.15", "cu130", "https://download.pytorch.org/whl/cu130"),
        ("Windows", "AMD64", "572.16", "cu128", "https://download.pytorch.org/whl/cu128"),
        ("Darwin", "arm64", None, "mps", None),
    ],
)
def test_choice_per_machine(system, machine, driver, variant, index):
    build = choose_torch_build(system, machine, driver)
    assert (build.variant, build.index_url) == (variant, index)
    assert build.requirements() == [f"torch=={TORCH_VERSION}", f"torchvision=={TORCHVISION_VERSION}"]


def test_old_driver_falls_back_to_cpu_and_says_why():
    build = choose_torch_build("Linux", "x86_64", "470.82.01")
    assert build.variant == "cpu"
    assert "older" in build.note and "470.82.01" in build.note


def test_unparseable_driver_is_treated_as_none():
    assert choose_torch_build("Linux", "x86_64", "n/a").variant == "cpu"


def test_pip_args_keep_user_index_for_dependencies():
    build = choose_torch_build("Windows", "AMD64", "575.0")
    assert build.pip_args()[-2:] == ["--extra-index-url", "https://download.pytorch.org/whl/cu128"]


def test_override_index():
    build = apply_override(choose_torch_build("Linux", "x86_64", None),
                           {"STUDIO_TORCH_INDEX_URL": "https://download.pytorch.org/whl/cpu"})
    assert build.variant == "cpu" and build.index_url == "https://download.pytorch.org/whl/cpu"
    assert build.key() != choose_torch_build("Linux", "x86_64", None).key()


@pytest.mark.parametrize(
    "driver,cap,variant",
    [
        ("580.65.06", "8.6", "cu130"),  # an RTX 30xx: the newest build
        ("580.65.06", "7.5", "cu130"),  # Turing is the oldest the new builds carry
        ("580.65.06", "6.1", "cu126"),  # a GTX 10xx: only cu126 still has sm_61
        ("580.65.06", "7.0", "cu126"),  # a V100
        ("575.51.03", "5.2", "cu126"),  # a GTX 9xx
        ("575.51.03", "12.0", "cu128"),  # an RTX 50xx: not in cu126
        ("580.65.06", "12.0", "cu130"),
        ("580.65.06", None, "cu130"),  # nvidia-smi too old to say: the driver decides
        ("580.65.06", "garbage", "cu130"),
    ],
)
def test_the_build_holds_kernels_for_the_card(driver, cap, variant):
    assert choose_torch_build("Linux", "x86_64", driver, cap).variant == variant


def test_a_card_no_build_the_driver_runs_covers_falls_back_to_cpu_and_says_what_to_do():
    # a Blackwell card on a driver that runs cu126 only: cu126 stops at sm_90
    build = choose_torch_build("Linux", "x86_64", "565.57.01", "12.0")
    assert build.variant == "cpu"
    assert "12.0" in build.note and "570" in build.note and "cu128" in build.note


def test_the_launcher_asks_nvidia_smi_for_the_compute_capability(tmp_path, monkeypatch):
    from installer import torch_build

    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\ncase \"$1\" in\n  --query-gpu=compute_cap) echo '6.1';;\n"
                    "  --query-gpu=driver_version) echo '580.65.06';;\nesac\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    driver, cap = torch_build.detect_nvidia_driver(), torch_build.detect_compute_cap()
    assert (driver, cap) == ("580.65.06", "6.1")
    assert choose_torch_build("Linux", "x86_64", driver, cap).variant == "cu126"
