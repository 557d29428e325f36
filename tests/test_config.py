import json

from studio.config import Settings, data_dir, load_settings, save_settings, settings_path


def test_data_dir_follows_studio_home(studio_home):
    assert data_dir() == studio_home
    assert studio_home.is_dir()


def test_settings_round_trip_and_keep_unknown_keys(studio_home):
    s = Settings(default_variants=6, budget=3.5)
    s.limits.max_pixels = 50_000_000
    save_settings(s)
    raw = json.loads(settings_path().read_text())
    raw["future_option"] = {"x": 1}
    settings_path().write_text(json.dumps(raw))
    loaded = load_settings()
    assert loaded.default_variants == 6 and loaded.budget == 3.5
    assert loaded.limits.max_pixels == 50_000_000
    assert loaded.extra == {"future_option": {"x": 1}}
    save_settings(loaded)
    assert json.loads(settings_path().read_text())["future_option"] == {"x": 1}


def test_bad_values_fall_back_to_defaults(studio_home):
    settings_path().write_text(json.dumps({"default_variants": "many", "budget": 2, "limits": {"min_side": -3}}))
    loaded = load_settings()
    assert loaded.default_variants == Settings().default_variants
    assert loaded.budget == 2.0
    assert loaded.limits.min_side == 256


def test_unreadable_settings_file_gives_defaults(studio_home):
    settings_path().write_text("{not json")
    assert load_settings() == Settings()


def test_models_dir_default_and_override(studio_home, tmp_path):
    assert Settings().models_path() == studio_home / "models"
    assert Settings(models_dir=str(tmp_path / "m")).models_path() == tmp_path / "m"
