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
