"""gankit.config: presets, strict loading from Python, TOML and key=value overrides."""

from __future__ import annotations

import math

import pytest

from gankit.config import (
    PAPER_PRESETS, TOY_PRESETS,
    Config,
    Schedule,
    build_config,
    load_toml,
    parse_overrides,
    resolve_config,
)
from gankit.errors import ConfigError, GankitError


def _one_line_naming(err: pytest.ExceptionInfo, key: str) -> str:
    msg = str(err.value)
    assert "\n" not in msg, msg
    assert key in msg, msg
    assert isinstance(err.value, GankitError) and err.value.exit_code == 2
    return msg


# ---------------------------------------------------------------- presets
# Image data get each objective's paper values; toy data get the toy presets on top (docs/presets.md).
def test_wgan_gets_the_paper_preset():
    cfg = Config(objective="wgan", data="digits")
    assert cfg.optimizer == "rmsprop"
    assert cfg.lr_d == 5e-5 and cfg.lr_g == 5e-5
    assert cfg.clip == 0.01
    assert cfg.d_steps == 5
    assert cfg.g_steps == 1
    assert cfg.lambda_gp is None and cfg.penalty is None


def test_wgan_gp_preset():
    cfg = Config(objective="wgan-gp", data="digits")
    assert (cfg.optimizer, cfg.lr_d, cfg.lr_g, cfg.beta1, cfg.beta2) == ("adam", 1e-4, 1e-4, 0.0, 0.9)
    assert cfg.d_steps == 5 and cfg.penalty == "two-sided" and cfg.lambda_gp == 10.0
    assert cfg.d_norm == "layer"  # no batch norm under a per-sample penalty (§6)
    assert cfg.clip is None
    toy = Config(objective="wgan-gp", data="ring8")
    assert toy.lambda_gp == 0.1  # the toy preset wins over the paper's 10
    assert PAPER_PRESETS["wgan-gp"]["lambda_gp"] == 10.0


@pytest.mark.parametrize("objective", ["gan", "ns-gan"])
def test_classic_gan_preset(objective):
    cfg = Config(objective=objective, data="digits")
    assert (cfg.optimizer, cfg.lr_d, cfg.lr_g, cfg.beta1, cfg.beta2, cfg.d_steps) == ("adam", 2e-4, 2e-4, 0.5, 0.999, 1)
    assert cfg.clip is None and cfg.lambda_gp is None and cfg.penalty is None


@pytest.mark.parametrize("objective", ["gan", "ns-gan", "wgan", "wgan-gp"])
@pytest.mark.parametrize("data", ["ring8", "grid25"])
def test_toy_presets_win_over_the_paper(objective, data):
    cfg = Config(objective=objective, data=data)
    from gankit import config as config_module

    layers = [getattr(config_module, "DATA_PRESETS", {}).get((data, objective), {}), TOY_PRESETS[objective],
              config_module.KIND_DEFAULTS["toy"], PAPER_PRESETS[objective], config_module.BASE_DEFAULTS]
    for key in ("iterations", "lr_d", "lr_g", "d_steps", "batch_size", "g_hidden", "ema_decay"):
        expected = next(layer[key] for layer in layers if key in layer)
        assert getattr(cfg, key) == expected, key


def test_what_you_set_wins_over_presets():
    cfg = Config(objective="wgan", data="digits", clip=0.05, d_steps=2, lr_d=1e-3, optimizer="adam")
    assert (cfg.clip, cfg.d_steps, cfg.lr_d, cfg.optimizer) == (0.05, 2, 1e-3, "adam")
    assert cfg.lr_g == 5e-5  # untouched keys still come from the preset
    cfg = Config(objective="wgan-gp", lambda_gp=10.0)
    assert cfg.lambda_gp == 10.0


def test_int_for_float_key_becomes_float():
    cfg = Config(objective="wgan-gp", lambda_gp=5, lr_d=1)
    assert cfg.lambda_gp == 5.0 and isinstance(cfg.lambda_gp, float)
    assert isinstance(cfg.lr_d, float)


def test_schedule_is_a_value():
    cfg = Config(objective="gan", d_steps=3, g_steps=2, warmup_iterations=4, warmup_d_steps=7)
    assert cfg.schedule == Schedule(3, 2, 4, 7)
    assert [cfg.schedule.d_steps_at(i) for i in range(6)] == [7, 7, 7, 7, 3, 3]
    assert Schedule(5, 1).d_steps_at(0) == 5


# ---------------------------------------------------------------- TOML and overrides
def test_toml_then_overrides(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('objective = "wgan"\ndata = "grid25"\niterations = 300\nd_steps = 4\nclip = 0.02\n')
    cfg = resolve_config(path, ["d_steps=2", "seed=9", "lr_d=1e-3"])
    assert (cfg.objective, cfg.data, cfg.iterations, cfg.d_steps, cfg.seed) == ("wgan", "grid25", 300, 2, 9)
    assert cfg.clip == 0.02 and cfg.lr_d == 1e-3
    assert cfg.lr_g == Config(objective="wgan", data="grid25").lr_g  # from the presets


@pytest.mark.parametrize(
    "pair, key, value, base",
    [
        ("objective=ns-gan", "objective", "ns-gan", {}),
        ("data=spiral", "data", "spiral", {}),
        ("iterations=123", "iterations", 123, {}),
        ("batch_size=17", "batch_size", 17, {}),
        ("d_steps=3", "d_steps", 3, {}),
        ("g_steps=2", "g_steps", 2, {}),
        ("seed=42", "seed", 42, {}),
        ("lr_d=3e-4", "lr_d", 3e-4, {}),
        ("lr_g=0.001", "lr_g", 1e-3, {}),
        ("lambda_gp=10", "lambda_gp", 10.0, {"objective": "wgan-gp"}),
        ("clip=0.05", "clip", 0.05, {"objective": "wgan"}),
        ("spectral_norm=true", "spectral_norm", True, {}),
        ("penalty=one-sided", "penalty", "one-sided", {"objective": "wgan-gp"}),
    ],
)
def test_documented_override_keys(tmp_path, pair, key, value, base):
    overrides = [f"{k}={v}" for k, v in base.items()] + [pair]
    cfg = resolve_config(None, overrides)
    got = getattr(cfg, key)
    assert got == value and type(got) is type(value)
    # The same key from a TOML file
    path = tmp_path / "c.toml"
    k, _, v = pair.partition("=")
    text = "".join(f'{bk} = "{bv}"\n' for bk, bv in base.items())
    toml_v = v if isinstance(value, (int, float)) else f'"{v}"'
    if isinstance(value, bool):
        toml_v = v
    path.write_text(text + f"{k} = {toml_v}\n")
    assert getattr(resolve_config(path), key) == value


def test_override_values_keep_the_equals_sign_and_whitespace_rule():
    assert parse_overrides(["d_steps = 5"]) == {"d_steps": 5}
    assert parse_overrides(["lr_d=1e-4", "objective=wgan"]) == {"lr_d": 1e-4, "objective": "wgan"}
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["d_steps"])
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["=5"])


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "values, key",
    [
        ({"itrations": 10}, "itrations"),
        ({"d_step": 5}, "d_step"),
        ({"iterations": "ten"}, "iterations"),
        ({"iterations": 1.5}, "iterations"),
        ({"batch_size": True}, "batch_size"),
        ({"lr_d": "fast"}, "lr_d"),
        ({"spectral_norm": 1}, "spectral_norm"),
        ({"objective": 3}, "objective"),
        ({"d_steps": 0}, "d_steps"),
        ({"g_steps": 0}, "g_steps"),
        ({"d_steps": -1}, "d_steps"),
        ({"warmup_d_steps": 0}, "warmup_d_steps"),
        ({"batch_size": 0}, "batch_size"),
        ({"iterations": -1}, "iterations"),
        ({"lr_d": -1e-4}, "lr_d"),
        ({"lr_g": 0.0}, "lr_g"),
        ({"lr_d": math.nan}, "lr_d"),
        ({"lr_g": math.inf}, "lr_g"),
        ({"objective": "wgan-gp", "lambda_gp": -1.0}, "lambda_gp"),
        ({"objective": "wgan", "clip": 0.0}, "clip"),
        ({"objective": "wgan", "clip": -0.01}, "clip"),
        ({"beta1": 1.0}, "beta1"),
        ({"objective": "lsgan"}, "objective"),
        ({"data": "moons9"}, "data"),
        ({"optimizer": "adagrad"}, "optimizer"),
        ({"objective": "wgan-gp", "penalty": "both"}, "penalty"),
        ({"objective": "gan", "clip": 0.01}, "clip"),
        ({"objective": "wgan-gp", "clip": 0.01}, "clip"),
        ({"objective": "wgan", "lambda_gp": 10.0}, "lambda_gp"),
        ({"objective": "ns-gan", "penalty": "one-sided"}, "penalty"),
    ],
)
def test_bad_values_raise_one_line_naming_the_key(values, key):
    with pytest.raises(ConfigError) as err:
        build_config(values)
    _one_line_naming(err, key)


def test_conflict_message_says_what_to_do():
    with pytest.raises(ConfigError) as err:
        Config(objective="gan", clip=0.01)
    msg = _one_line_naming(err, "clip")
    assert "wgan" in msg and "gan" in msg


def test_unknown_key_lists_known_keys():
    with pytest.raises(ConfigError) as err:
        build_config({"lambda": 10})
    msg = _one_line_naming(err, "'lambda'")
    assert "lambda_gp" in msg and "d_steps" in msg


@pytest.mark.parametrize(
    "pair, key",
    [
        ("iterations=ten", "iterations"),
        ("d_steps=2.5", "d_steps"),
        ("lr_d=abc", "lr_d"),
        ("spectral_norm=maybe", "spectral_norm"),
        ("unknown_key=1", "unknown_key"),
        ("d_steps=0", "d_steps"),
        ("lr_g=-1", "lr_g"),
        ("clip=0.01", "clip"),  # default objective is ns-gan: clip conflicts
    ],
)
def test_bad_overrides(pair, key):
    with pytest.raises(ConfigError) as err:
        resolve_config(None, [pair])
    _one_line_naming(err, key)


@pytest.mark.parametrize(
    "text, key",
    [
        ("iterations = \"ten\"\n", "iterations"),
        ("d_steps = true\n", "d_steps"),
        ("bogus = 3\n", "bogus"),
        ("objective = \"gan\"\nclip = 0.01\n", "clip"),
        ("lr_d = -0.5\n", "lr_d"),
        ("g_steps = 0\n", "g_steps"),
    ],
)
def test_bad_toml_values_name_the_file_and_key(tmp_path, text, key):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        resolve_config(path)
    msg = _one_line_naming(err, key)
    assert "bad.toml" in msg


@pytest.mark.parametrize("text", ["iterations = \n", "objective = wgan\n", "[[x\n", "d_steps = 5 5\n"])
def test_toml_syntax_errors(tmp_path, text):
    path = tmp_path / "syntax.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_toml(path)
    msg = str(err.value)
    assert "\n" not in msg and "syntax.toml" in msg and "TOML" in msg


def test_toml_sections_missing_files_and_folders(tmp_path):
    (tmp_path / "s.toml").write_text("[train]\niterations = 5\n")
    with pytest.raises(ConfigError, match=r"section \[train\]"):
        load_toml(tmp_path / "s.toml")
    with pytest.raises(ConfigError, match="does not exist"):
        load_toml(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="folder"):
        load_toml(tmp_path)
    (tmp_path / "bin.toml").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ConfigError):
        load_toml(tmp_path / "bin.toml")


def test_replace_validates():
    cfg = Config(objective="gan")
    assert cfg.replace(iterations=7).iterations == 7
    with pytest.raises(ConfigError, match="d_steps"):
        cfg.replace(d_steps=0)
    with pytest.raises(ConfigError, match="nope"):
        cfg.replace(nope=1)


# ---------------------------------------------------------------- round trip
@pytest.mark.parametrize(
    "values",
    [
        {},
        {"objective": "wgan", "clip": 0.015, "data": "spiral", "seed": 3},
        {"objective": "wgan-gp", "penalty": "one-sided", "spectral_norm": True, "lambda_gp": 2.5,
         "lr_d": 1.2345678901234567e-4, "warmup_iterations": 3},
        {"objective": "ns-gan", "data": "mog1d", "n_train": 100, "z_dist": "uniform", "activation": "tanh"},
    ],
)
def test_resolved_config_round_trips_through_toml(tmp_path, values):
    cfg = build_config(values)
    path = tmp_path / "config.toml"
    path.write_text(cfg.to_toml())
    again = resolve_config(path)
    assert again == cfg
    assert again.to_dict() == cfg.to_dict()
    assert load_toml(path) == cfg.to_dict()
    # Keys that do not apply to the objective are left out, so the file reloads.
    if cfg.objective != "wgan":
        assert "clip" not in cfg.to_dict()
