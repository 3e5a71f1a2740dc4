"""Seeing a run: progress lines, TensorBoard, the 2-D animation, report.html and compare."""

from __future__ import annotations

import base64
import csv
import json
import math
import re
import time
from pathlib import Path

import pytest
import torch
from PIL import Image

from gankit.cli import main
from gankit.config import Config, build_config
from gankit.errors import ConfigError, RunError
from gankit.report.html import define, families, write_report
from gankit.report.progress import format_record
from gankit.train import train

# Tiny toy runs: a few iterations of small MLPs; frames at every iteration.
TOY = dict(iterations=4, batch_size=32, g_hidden=16, d_hidden=16, g_layers=2, d_layers=2, eval_samples=64,
           log_every=2, objective="wgan-gp")  # a critic: the report shows gap, gp and grad_norm


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory) -> Path:
    """A finished tiny ring8 run with frames at every iteration (shared by the read-only tests)."""
    out = tmp_path_factory.mktemp("runs") / "ring8-run"
    train(build_config(dict(TOY, data="ring8", frame_every=1)), out, progress=False)
    return out


def _image_run_folder(root: Path) -> Path:
    """A fake image run folder, written by hand: config, records, summary with image metrics and warnings, grids."""
    run = root / "img-run"
    (run / "grids").mkdir(parents=True)
    (run / "config.toml").write_text('objective = "ns-gan"\ndata = "digits"\nnet = "dcgan"\niterations = 20\n')
    (run / "metrics.jsonl").write_text("".join(json.dumps({"iteration": i, "wall_seconds": 0.1 * i, "d_loss": 1.0 / i,
                                                           "g_loss": 0.5 * i, "d_real": 0.6, "d_fake": 0.4}) + "\n"
                                               for i in (5, 10, 15, 20)))
    (run / "summary.json").write_text(json.dumps({"iterations": 20, "fd_lenet": 12.5, "fd_lenet_floor": 0.3,
                                                  "kid_lenet": 0.01, "warnings": ["iteration 10: <b>D won</b> & more"]}))
    for i in (10, 20):
        Image.new("L", (30, 30), 40 * i // 10).save(run / "grids" / f"{i:07d}.png")
    Image.new("L", (30, 30), 200).save(run / "samples.png")
    return run


# ----------------------------------------------------------------------------
# progress and --quiet / --verbose
# ----------------------------------------------------------------------------
def test_format_record_is_one_line() -> None:
    line = format_record({"iteration": 50, "wall_seconds": 3.25, "d_loss": -0.123456, "g_loss": 2.0, "n": 3}, 200)
    assert line == "it 50/200  d_loss -0.1235  g_loss 2  n 3  wall 3.2 s"


def test_verbose_prints_each_record(capsys) -> None:
    result = train(build_config(dict(TOY, data="ring8")), None, progress=False, verbose=True)
    lines = [l for l in capsys.readouterr().out.splitlines() if l.startswith("it ")]
    assert [l.split()[1] for l in lines] == ["2/4", "4/4"]
    assert len(lines) == len(result.history) and "d_loss" in lines[0] and "g_loss" in lines[0]


def test_cli_quiet_prints_nothing_and_verbose_prints_lines(tmp_path: Path, capsys) -> None:
    args = [f"{k}={v}" for k, v in TOY.items()] + ["frame_every=0"]
    assert main(["train", *args, "--out", str(tmp_path / "q"), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    assert main(["train", *args, "--out", str(tmp_path / "v"), "--verbose"]) == 0
    out = capsys.readouterr().out
    assert out.count("\nit ") + out.startswith("it ") == 2 and "run folder" in out
    with pytest.raises(SystemExit):  # mutually exclusive
        main(["train", "--quiet", "--verbose"])


# ----------------------------------------------------------------------------
# the animation of 2-D runs
# ----------------------------------------------------------------------------
def test_frame_every_defaults_and_checks() -> None:
    assert Config(data="ring8", iterations=600).frame_every == 30
    assert Config(data="spiral", iterations=10).frame_every == 1
    assert Config(data="mog1d", iterations=600).frame_every == 0
    assert Config(data="ring8", iterations=600, frame_every=0).frame_every == 0
    with pytest.raises(ConfigError, match="frame_every.*2-D toy data only"):
        Config(data="mog1d", frame_every=5)
    with pytest.raises(ConfigError, match="frame_every"):
        Config(frame_every=-1)


def test_frames_and_animation(toy_run: Path) -> None:
    frames = sorted((toy_run / "frames").glob("*.png"))
    assert [f.name for f in frames] == [f"{i:07d}.png" for i in (1, 2, 3, 4)]
    with Image.open(frames[-1]) as im:
        assert im.size == (240, 256)
        colours = im.convert("RGB").getcolors(100_000)
        assert len(colours) > 20  # a heatmap with points, not a blank picture
    with Image.open(toy_run / "animation.gif") as gif:
        assert gif.format == "GIF" and gif.n_frames == 4
    summary = json.loads((toy_run / "summary.json").read_text())
    assert summary["frames"] == 4 and 0 < summary["seconds_per_frame"] < 0.3


def test_frame_cost_with_default_networks(tmp_path: Path) -> None:
    """The default 512-wide MLPs: drawing and writing one frame stays under 0.3 s.

    CPU time of this process (torch runs single-threaded here), not wall time, so that
    other jobs on a shared machine do not decide the result.
    """
    from gankit.data.toy import TOY_DATASETS
    from gankit.nets import build_networks
    from gankit.report.frames import Frames

    config = Config(data="ring8")
    G, D = build_networks(config, (2,))
    frames = Frames.for_run(config, tmp_path, TOY_DATASETS["ring8"](), torch.device("cpu"), wasserstein=True)
    frames.save(0, G, D)  # warm-up (first matplotlib colormap use, allocator)
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(1, 4):
        frames.save(i, G, D)
    per_frame, wall = (time.process_time() - c0) / 3, (time.perf_counter() - t0) / 3
    print(f"seconds per frame, default networks: {per_frame:.3f} CPU, {wall:.3f} wall")
    assert per_frame < 0.3


def test_resume_keeps_earlier_frames_only(tmp_path: Path) -> None:
    from gankit.data.toy import TOY_DATASETS
    from gankit.report.frames import Frames

    (tmp_path / "frames").mkdir()
    for i in (1, 2, 3):
        (tmp_path / "frames" / f"{i:07d}.png").write_bytes(b"")
    z = torch.zeros(4, 2)
    Frames(tmp_path, TOY_DATASETS["ring8"](), z, 1, wasserstein=False, start_iteration=2)
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == ["0000001.png", "0000002.png"]
    (tmp_path / "animation.gif").write_bytes(b"")
    assert Frames.for_run(Config(frame_every=0), tmp_path, TOY_DATASETS["ring8"](), torch.device("cpu"),
                          wasserstein=False) is None
    assert list((tmp_path / "frames").iterdir()) == [] and not (tmp_path / "animation.gif").exists()


# ----------------------------------------------------------------------------
# TensorBoard
# ----------------------------------------------------------------------------
def test_tensorboard_missing_is_one_line_config_error(tmp_path: Path, monkeypatch) -> None:
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real_find_spec(name, *a))
    with pytest.raises(ConfigError, match=r"pip install 'gankit\[tensorboard\]'") as info:
        train(build_config(dict(TOY, logger="tensorboard")), tmp_path / "tb", progress=False)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "tb").exists()  # refused before any work


def _events(log_dir: Path):
    pytest.importorskip("tensorboard", reason="tensorboard not installed (pip install 'gankit[tensorboard]')")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "histograms": 0, "images": 0})
    acc.Reload()
    return acc


def test_tensorboard_scalars_and_histograms(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard", reason="tensorboard not installed (pip install 'gankit[tensorboard]')")
    result = train(build_config(dict(TOY, logger="tensorboard", frame_every=0)), tmp_path / "tb", progress=False)
    acc = _events(tmp_path / "tb" / "tensorboard")
    tags = acc.Tags()
    for record in result.history:  # every key of every record, at its iteration, with its value
        for key, value in record.items():
            if key == "iteration":
                continue
            assert key in tags["scalars"], key
            events = {e.step: e.value for e in acc.Scalars(key)}
            assert events[record["iteration"]] == pytest.approx(value, rel=1e-6, abs=1e-6)
    assert {"D_output/real", "D_output/fake"} <= set(tags["histograms"])
    hist = acc.Histograms("D_output/real")
    assert [h.step for h in hist] == [2, 4] and hist[0].histogram_value.num == 32  # one real batch


def test_tensorboard_survives_non_finite_outputs(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard", reason="tensorboard not installed (pip install 'gankit[tensorboard]')")
    from gankit.report.tensorboard import TensorBoardLogger

    D = torch.nn.Linear(2, 1)
    with torch.no_grad():
        D.weight.fill_(math.nan)
    with TensorBoardLogger(tmp_path) as logger:
        logger.log({"iteration": 1, "d_loss": math.nan}, D, torch.ones(4, 2), torch.ones(4, 2))
    assert "d_loss" in _events(tmp_path / "tensorboard").Tags()["scalars"]


def test_tensorboard_does_not_change_training(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard", reason="tensorboard not installed (pip install 'gankit[tensorboard]')")
    config = dict(TOY, data="ring8", spectral_norm=True, frame_every=0)  # spectral norm: D has buffers
    plain = train(build_config(config), None, progress=False)
    logged = train(build_config(dict(config, logger="tensorboard")), tmp_path / "tb", progress=False)
    assert [{k: v for k, v in r.items() if k != "wall_seconds"} for r in plain.history] == \
           [{k: v for k, v in r.items() if k != "wall_seconds"} for r in logged.history]


def test_tensorboard_sample_grids_of_an_image_run(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard", reason="tensorboard not installed (pip install 'gankit[tensorboard]')")
    from gankit.data.images import save_npz

    save_npz(tmp_path / "imgs.npz", torch.randint(0, 256, (64, 1, 28, 28), generator=torch.Generator().manual_seed(0),
                                                  dtype=torch.uint8))
    config = build_config(dict(data=str(tmp_path / "imgs.npz"), objective="ns-gan", iterations=2, batch_size=8,
                               width=8, z_dim=8, log_every=1, sample_every=1, logger="tensorboard"))
    train(config, tmp_path / "run", progress=False)
    acc = _events(tmp_path / "run" / "tensorboard")
    assert "samples" in acc.Tags()["images"]
    assert [e.step for e in acc.Images("samples")] == [1, 2]


# ----------------------------------------------------------------------------
# report.html
# ----------------------------------------------------------------------------
def _img_sources(text: str) -> list[str]:
    return re.findall(r'<img [^>]*src="([^"]*)"', text)


def test_report_of_a_toy_run(toy_run: Path) -> None:
    path = write_report(toy_run)
    assert path == toy_run / "report.html"
    text = path.read_text()
    for heading in ("Final metrics", "Curves", "Samples", "Training animation", "Configuration"):
        assert f"<h2>{heading}</h2>" in text
    sources = _img_sources(text)
    assert sources and all(s.startswith("data:image/") for s in sources)  # self-contained
    assert not re.search(r'(src|href)="(https?:)?//', text)
    kinds = [s.split(";")[0] for s in sources]
    assert kinds.count("data:image/gif") == 1  # animation.gif
    png = base64.b64decode(sources[0].split(",", 1)[1])
    assert png.startswith(b"\x89PNG")
    assert 'id="frame-slider"' in text and 'max="3"' in text  # 4 frames behind the slider
    assert "modes_covered" in text and define("modes_covered") in text
    assert "<td>objective</td><td>wgan-gp</td>" in text


def test_report_of_an_image_run_escapes_text(tmp_path: Path) -> None:
    run = _image_run_folder(tmp_path)
    text = write_report(run, tmp_path / "r.html").read_text()
    assert "&lt;b&gt;D won&lt;/b&gt; &amp; more" in text and "<b>D won" not in text
    assert "<h2>Warnings</h2>" in text
    assert "iteration 10" in text and "iteration 20" in text  # the grids over time
    assert "Fréchet distance between Gaussians fitted to generated and reference features of lenet" in text
    assert "Training animation" not in text
    sources = _img_sources(text)
    assert len(sources) == 2 + 1 + 2  # two grids, samples.png, two curve families (losses, D outputs)


def test_definitions_and_families() -> None:
    assert define("kid_inception_std").startswith("standard deviation of the KID")
    assert "inception" in define("fd_inception") and define("fd_") == "" and define("nope") == ""
    assert families(["g_loss", "d_loss", "gap", "lr"]) == [("losses", ["d_loss", "g_loss"]),
                                                           ("value V(D, G) and W1 estimate", ["gap"]), ("lr", ["lr"])]


def test_report_refuses_a_folder_that_is_not_a_run(tmp_path: Path, capsys) -> None:
    with pytest.raises(RunError, match="not a gankit run folder"):
        write_report(tmp_path)
    assert main(["report", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("gankit: error: ")


def test_cli_report(toy_run: Path, tmp_path: Path, capsys) -> None:
    assert main(["report", str(toy_run), "--out", str(tmp_path / "x.html")]) == 0
    assert (tmp_path / "x.html").is_file() and "x.html" in capsys.readouterr().out


# ----------------------------------------------------------------------------
# compare
# ----------------------------------------------------------------------------
def test_compare_two_runs(toy_run: Path, tmp_path: Path, capsys) -> None:
    other = tmp_path / "runs" / "seed1"
    train(build_config(dict(TOY, data="ring8", seed=1, frame_every=0)), other, progress=False)
    _image_run_folder(tmp_path / "runs")
    out = tmp_path / "cmp"
    pattern = str(tmp_path / "runs" / "*")  # a glob the shell did not expand
    assert main(["compare", str(toy_run), pattern, "--out", str(out)]) == 0
    assert "compared 3 runs" in capsys.readouterr().out
    with open(out / "metrics.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["run"] for r in rows] == ["ring8-run", "img-run", "seed1"]
    assert rows[0]["seed"] == "0" and rows[2]["seed"] == "1"  # a config key that differs
    assert rows[1]["fd_lenet"] == "12.5" and rows[1]["warnings"] == "1" and rows[0]["modes_covered"] != ""
    for key in ("d_loss", "g_loss", "gap", "d_real"):
        assert (out / f"{key}.png").is_file()
    text = (out / "compare.html").read_text()
    assert all(s.startswith("data:image/png;base64,") for s in _img_sources(text))
    assert len(_img_sources(text)) == len(list(out.glob("*.png")))
    with pytest.raises(RunError, match="no such run folder"):
        from gankit.report.compare import expand_runs

        expand_runs([str(tmp_path / "nothing*")])


def test_report_of_an_unfinished_run(toy_run: Path, tmp_path: Path) -> None:
    import shutil

    run = tmp_path / "unfinished"
    run.mkdir()
    for name in ("config.toml", "metrics.jsonl"):
        shutil.copy(toy_run / name, run / name)
    text = write_report(run).read_text()
    assert "the run has not finished" in text and "4 of 4 iterations" in text
    assert len(_img_sources(text)) >= 2  # the curves so far
