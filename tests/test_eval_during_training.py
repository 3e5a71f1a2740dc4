"""eval_every, best.pt and checkpoint cadence when log lines do not fall on multiples (gankit/train.py)."""

from __future__ import annotations

import pytest
import torch

from gankit.checkpoint import load_checkpoint
from gankit.config import Config
from gankit.errors import ConfigError
from gankit.runs import numbered_checkpoints, read_metrics
from gankit.train import crossed, train

TINY = dict(batch_size=32, g_hidden=16, d_hidden=16, g_layers=2, d_layers=2, eval_samples=64, frame_every=0,
            objective="ns-gan", lr_schedule="constant")


def test_crossed_counts_multiples_inside_the_interval():
    assert crossed(4, 3, 6) and crossed(4, 0, 4) and not crossed(4, 4, 7) and not crossed(0, 0, 100)
    assert crossed(5, 9, 10) and not crossed(5, 10, 14)


def test_eval_every_puts_toy_metrics_in_the_log_and_keeps_best(tmp_path):
    torch.set_num_threads(1)
    result = train(Config(**TINY, iterations=8, log_every=2, eval_every=4, eval_n=64), tmp_path / "run",
                   progress=False)
    records = read_metrics(tmp_path / "run")
    assert [r["iteration"] for r in records] == [2, 4, 6, 8]
    assert ["w1" in r for r in records] == [False, True, False, True]
    best = load_checkpoint(tmp_path / "run" / "best.pt")
    evaluated = {r["iteration"]: r["w1"] for r in records if "w1" in r}
    assert best["iteration"] == min(evaluated, key=evaluated.get)
    assert best["best_value"] == pytest.approx(min(evaluated.values()))
    assert result.metrics["iterations"] == 8


def test_checkpoints_follow_crossings_when_g_steps_skip_the_multiples(tmp_path):
    # g_steps=3: rounds end at 3, 6, 9, 12; log lines at 3, 6, 9, 12; checkpoint_every=4 is crossed at 6, 9, 12.
    torch.set_num_threads(1)
    train(Config(**TINY, iterations=12, g_steps=3, log_every=2, checkpoint_every=4, keep=5), tmp_path / "run",
          progress=False)
    assert {it for _, it in numbered_checkpoints(tmp_path / "run")} >= {6, 9}
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["iteration"] == 12


@pytest.mark.parametrize("values", [
    dict(eval_every=50, best_metric="jsd"),                     # 2-D data: no JSD
    dict(eval_every=50, best_metric="fd"),                      # toy data: no Fréchet distance
    dict(data="digits", eval_every=50, best_metric="kid"),      # eval_metrics=fd does not measure KID
])
def test_best_metric_must_be_measured(values):
    with pytest.raises(ConfigError, match="best_metric"):
        Config(**values)
