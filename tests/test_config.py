from dataclasses import fields

import pytest

from osan.config import Config, ConfigError, load_config, parse_overrides, save_config


def test_defaults_follow_the_paper_per_task():
    msa = load_config(task="regression")
    assert (msa.ddg.heads, msa.ddg.lam) == (64, 0.85)  # Table 4
    assert msa.tal.out_dims == {"text": 384, "vision": 2, "audio": 2}  # Table 5
    vtc = load_config(task="classification")
    assert (vtc.ddg.heads, vtc.ddg.lam) == (128, 0.9)  # Table 9
    assert vtc.tal.out_dims == {"text": 56, "layout": 14}  # Table 10
    assert vtc.loss.task_loss == "ce"


def test_dotted_overrides_are_typed_and_nested():
    cfg = load_config(overrides=["tal.eps=1e-4", "ddg.heads=32", "loss.adv=false"])
    assert cfg.tal.eps == pytest.approx(1e-4)
    assert cfg.ddg.heads == 32 and isinstance(cfg.ddg.heads, int)
    assert cfg.loss.adv is False
    assert parse_overrides(["a.b.c=3"]) == {"a": {"b": {"c": 3}}}


@pytest.mark.parametrize(
    "bad",
    [["tal.nope=1"], ["ddg.heads=abc"], ["ddg.lam=1.5"], ["loss.adv=maybe"], ["noequals"]],
)
def test_bad_overrides_raise_config_error(bad):
    with pytest.raises(ConfigError):
        load_config(overrides=bad)


def test_method_preset_and_yaml_round_trip(tmp_path):
    cfg = load_config(method="osan-mixup", seed=5, overrides=["optim.epochs=3"])
    assert cfg.ddg.kind == "mixup" and cfg.seed == 5
    path = tmp_path / "c.yaml"
    save_config(cfg, path)
    again = load_config(path)
    assert again == cfg and again.hash() == cfg.hash()


def test_yaml_errors_are_config_errors(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(path)


def test_shipped_config_files_load():
    from pathlib import Path

    files = sorted(Path(__file__).resolve().parents[1].joinpath("configs").glob("*.yaml"))
    assert files, "configs/ ships YAML files for both tasks"
    for f in files:
        load_config(f)


def test_osan_plus_presets_depend_on_the_task_and_user_overrides_win():
    reg = load_config(method="osan-plus", task="regression")
    cls = load_config(method="osan-plus", task="classification")
    assert (reg.loss.self_train, reg.loss.st_mask, reg.loss.st_center) == (0.3, 0.1, True)
    assert reg.loss.st_source and not cls.loss.st_source
    assert not cls.loss.st_center
    assert (cls.loss.self_train, cls.loss.st_mask) == (1.0, 0.3)
    assert load_config(method="osan", task="regression").loss.self_train == 0.0
    over = load_config(method="osan-plus", task="regression", overrides=["loss.self_train=0.7"])
    assert over.loss.self_train == 0.7


@pytest.mark.parametrize(
    "old, new",
    [
        ("tal.standardize=true", "tal.normalize = standardize"),
        ("tal.output_norm=true", "layer (tal.output_norm=true)"),
        ("tal.orthonormal_output=true", "orthonormal (tal.orthonormal_output=true)"),
    ],
)
def test_retired_tal_flags_name_their_replacement(old, new):
    with pytest.raises(ConfigError, match="no longer exists") as err:
        load_config(overrides=[old])
    assert new in str(err.value)
    assert load_config().tal.normalize == "standardize"
    with pytest.raises(ConfigError, match="tal.normalize: must be one of standardize"):
        load_config(overrides=["tal.normalize=batch"])


def test_a_retired_option_in_a_users_yaml_or_override_is_one_line_naming_it(tmp_path):
    from osan.config_base import RETIRED_IN, RETIRED_OPTIONS

    path = tmp_path / "my.yaml"
    path.write_text("loss:\n  label_shift: iw\n")
    for kwargs in ({"path": path}, {"overrides": ["tal.fusion=residual"]}):
        with pytest.raises(ConfigError) as err:
            load_config(**kwargs)
        line = str(err.value)
        assert "\n" not in line and "was retired" in line and f"last in commit {RETIRED_IN}" in line
    assert str(err.value).startswith("tal.fusion='residual' was retired")
    for key in RETIRED_OPTIONS:  # none survives as a field
        section, name = key.split(".")
        assert name not in {f.name for f in fields(getattr(Config(), section))}, key


def test_a_saved_run_config_with_retired_keys_loads_at_the_kept_value_and_is_refused_else(
    tmp_path,
):
    """A run folder's config.yaml saved before the retirement holds every key: at the value
    whose behaviour the code kept it loads as today's config; at any other it is refused."""
    import yaml

    from osan.config import save_config
    from osan.config_base import RETIRED_OPTIONS

    path = tmp_path / "config.yaml"
    save_config(load_config(), path)
    saved = yaml.safe_load(path.read_text())
    for key, kept in RETIRED_OPTIONS.items():
        section, name = key.split(".")
        saved[section][name] = kept
    path.write_text(yaml.safe_dump(saved))
    assert load_config(path, saved=True) == load_config()
    with pytest.raises(ConfigError, match="retired"):
        load_config(path)  # the same file as a user's YAML: refused
    saved["loss"]["st_views"] = "dropped"
    path.write_text(yaml.safe_dump(saved))
    with pytest.raises(ConfigError, match=r"config.yaml: loss.st_views='dropped' was retired"):
        load_config(path, saved=True)
