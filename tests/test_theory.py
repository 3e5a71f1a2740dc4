"""Tests of gankit.theory: every experiment's quick run, its checks and its files.

All experiments run once (quick) through ``run_all`` into a temporary folder;
each test then asserts the named checks of one experiment, recomputing the
two-sided comparison itself rather than trusting the ``pass`` flag.
"""

from __future__ import annotations

import json
import math

import pytest

from gankit.theory import EXPERIMENTS, run_all
from gankit.theory.registry import close, within

EXPECTED = ("optimal-discriminator", "equilibrium", "saturation", "k-steps", "wasserstein-critic", "lipschitz")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("theory")
    results = run_all(out, quick=True, seed=0, progress=False)
    return out, {r["experiment"]: r for r in results}


def check(results: dict, experiment: str, name: str) -> dict:
    matches = [c for c in results[experiment]["checks"] if c["name"] == name]
    assert len(matches) == 1, f"{experiment}: no single check named {name!r}"
    c = matches[0]
    if isinstance(c["tolerance"], (int, float)):  # two-sided, recomputed here
        assert abs(c["measured"] - c["exact"]) <= c["tolerance"], c
    assert c["pass"], c
    return c


# ---- the check records themselves ------------------------------------------------

def test_close_is_two_sided():
    assert close("x", measured=1.05, exact=1.0, tolerance=0.1)["pass"]
    assert not close("x", measured=1.2, exact=1.0, tolerance=0.1)["pass"]
    assert not close("x", measured=0.8, exact=1.0, tolerance=0.1)["pass"]
    assert not close("x", measured=math.nan, exact=1.0, tolerance=0.1)["pass"]


def test_within_bounds_and_format():
    c = within("x", measured=0.5, lo=0.0, hi=1.0)
    assert c["pass"] and c["tolerance"] == "[0, 1]" and c["exact"] is None
    assert not within("x", measured=1.5, lo=0.0, hi=1.0)["pass"]
    assert not within("x", measured=-0.1, lo=0.0, hi=1.0)["pass"]
    assert within("x", measured=1e9, lo=10.0)["tolerance"] == "[10, inf]"


# ---- the registry -----------------------------------------------------------------

def test_registry_api():
    assert tuple(EXPERIMENTS) == EXPECTED
    for name, exp in EXPERIMENTS.items():
        assert exp.name == name and exp.section.startswith("§")
        assert exp.summary and "\n" not in exp.summary


def test_files_and_results_schema(run):
    out, results = run
    assert set(results) == set(EXPECTED)
    for name, r in results.items():
        assert (out / name / "figure.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        on_disk = json.loads((out / name / "results.json").read_text())
        assert on_disk["experiment"] == name and on_disk["section"] == EXPERIMENTS[name].section
        assert on_disk["checks"] == json.loads(json.dumps(r["checks"]))
        for c in r["checks"]:
            assert set(c) == {"name", "exact", "measured", "tolerance", "pass", "note"}
            assert isinstance(c["measured"], float) and math.isfinite(c["measured"])
            assert isinstance(c["tolerance"], (float, str))
        assert not list((out / name).glob("*.tmp")), "temporary files left behind"


def test_every_check_passes(run):
    _, results = run
    failed = [(r["experiment"], c["name"], c["measured"]) for r in results.values() for c in r["checks"]
              if not c["pass"]]
    assert not failed


def test_index(run):
    out, results = run
    md = (out / "index.md").read_text()
    page = (out / "index.html").read_text()
    for name, r in results.items():
        assert f"({name}/figure.png)" in md
        for c in r["checks"]:
            assert c["name"].replace("|", "\\|") in md
    assert page.count("src='data:image/png;base64,") == len(EXPECTED)
    assert "<img" in page and "figure.png" not in page  # self-contained


# ---- §2 optimal discriminator -------------------------------------------------------

def test_optimal_discriminator(run):
    _, r = run
    exp = "optimal-discriminator"
    c = check(r, exp, "quadrature: V(D*) = -log 4 + 2 JSD")
    assert c["tolerance"] <= 1e-6
    assert check(r, exp, "max |D - D*|")["tolerance"] <= 0.08
    assert check(r, exp, "mean |D - D*|")["tolerance"] <= 0.02
    c = check(r, exp, "V(D, G) (quadrature) vs -log 4 + 2 JSD")
    jsd = r[exp]["cases"][0]["jsd"]
    assert c["exact"] == pytest.approx(-math.log(4) + 2 * jsd, abs=1e-12) and 0.1 < jsd < math.log(2)
    check(r, exp, "V(D, G) (100k fresh samples) vs -log 4 + 2 JSD")
    check(r, exp, "p_g = p_data: max |D - 1/2|")
    check(r, exp, "p_g = p_data: mean |D - 1/2|")
    c = check(r, exp, "p_g = p_data: V(D, G) vs -log 4")
    assert c["exact"] == pytest.approx(-math.log(4))


# ---- §2-§3 equilibrium ----------------------------------------------------------------

def test_equilibrium(run):
    _, r = run
    exp = "equilibrium"
    assert check(r, exp, "V(D, G) -> -log 4")["exact"] == pytest.approx(-math.log(4))
    check(r, exp, "mean D(x) -> 1/2")
    check(r, exp, "mean D(G(z)) -> 1/2")
    check(r, exp, "JSD(p_data||p_g) final / initial")
    hist = r[exp]["history"]
    assert hist["jsd"][-1] < hist["jsd"][0]


# ---- §4 saturation ---------------------------------------------------------------------

def test_saturation(run):
    _, r = run
    exp = "saturation"
    check(r, exp, "dL/ds by autograd = -σ(s) and -(1-σ(s))")
    check(r, exp, "mean D(G(z)) at the early-training point")
    norms = r[exp]["grad_norm_at_start"]
    assert norms["saturating"] * 10 <= norms["non-saturating"]
    check(r, exp, "grad-norm ratio saturating / non-saturating at that point")
    check(r, exp, "grad-norm ratio over the first 50 training iterations")
    check(r, exp, "non-saturating (SGD): iterations to W1 <= threshold")
    check(r, exp, "saturating (SGD): W1 at the end / W1 at the start")
    assert r[exp]["race"]["saturating (sgd)"]["iterations_to_threshold"] is None


# ---- §3 k steps ------------------------------------------------------------------------

def test_k_steps(run):
    _, r = run
    exp = "k-steps"
    for k in (1, 2, 5):
        check(r, exp, f"k={k}: D steps = k x G steps")
        check(r, exp, f"k={k}: D + G steps at the fixed total")
    rows = r[exp]["table"]
    assert len(rows) == 6 and all(math.isfinite(t["w1"]) and t["d_loss_var"] >= 0 for t in rows)


# ---- §5-§6 the Wasserstein critic ------------------------------------------------------

def test_wasserstein_critic(run):
    _, r = run
    exp = "wasserstein-critic"
    check(r, exp, "unconstrained: gap(end) / gap(half-way)")
    check(r, exp, "unconstrained gap / penalised gap, same pair and steps")
    check(r, exp, "unconstrained |score| / constrained |score|")
    check(r, exp, "penalised: max over training of |batch gap| / W1")
    for mu in r[exp]["mus"]:
        c = check(r, exp, f"1-D GP gap / W1, W1 = {mu:g}")
        assert c["tolerance"] <= 0.1
    for theta in r[exp]["thetas"]:
        assert check(r, exp, f"lines GP gap / W1, W1 = {theta:g}")["tolerance"] <= 0.1
        assert check(r, exp, f"lines BCE JSD bound, θ = {theta:g}")["exact"] == pytest.approx(math.log(2))
    check(r, exp, "1-D clipped gap vs W1: linearity R²")
    assert r[exp]["clip_fit"]["1d"]["slope"] > 0


# ---- §6 Lipschitz --------------------------------------------------------------------

def test_lipschitz(run):
    _, r = run
    exp = "lipschitz"
    check(r, exp, "GP: median ‖∇D(x̂)‖")
    check(r, exp, "GP: fraction of ‖∇D(x̂)‖ in (0.8, 1.2)")
    check(r, exp, "clip: median ‖∇D(x̂)‖")
    check(r, exp, "CV(‖∇D‖): GP / clip")
    check(r, exp, "clip: fraction of parameters at ±c")
    check(r, exp, "clip: max |w| = c")
    stats = r[exp]["grad_norm"]
    assert stats["gp"]["cv"] < stats["clip"]["cv"]


def test_import_does_not_load_pyplot():
    import subprocess
    import sys

    code = "import sys, gankit.theory; assert 'matplotlib.pyplot' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
