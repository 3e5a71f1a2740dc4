"""report.html in a real browser: headless Chromium loads it, every picture decodes, no script fails.

Needs the Debian package ``chromium`` (/usr/bin/chromium); skipped without it.
The check is a small script put at the top of a copy of the report: on load
it sets ``document.title`` to 'ok' when every <img> is complete with a
natural width, the frame slider switches the frame, and no error was
raised; Chromium's --dump-dom gives back the title. A copy with one broken
picture must fail the same check (so the check can fail). A screenshot must
be a non-blank PNG.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from gankit.config import build_config
from gankit.report.html import write_report
from gankit.train import train

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (apt-get install -y chromium)")

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars"]

CHECK = """<script>
window.__errors = [];
window.addEventListener('error', function (e) { window.__errors.push(String(e.message || 'resource error')); }, true);
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var bad = imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); });
  var slider = document.getElementById('frame-slider'), frame = document.getElementById('frame-image');
  var before = frame.src;
  slider.value = slider.max;
  slider.dispatchEvent(new Event('input'));
  var moved = frame.src !== before && document.getElementById('frame-label').textContent !== '';
  document.title = (imgs.length > 0 && bad.length === 0 && window.__errors.length === 0 && moved) ? 'ok'
    : 'bad: ' + imgs.length + ' images, ' + bad.length + ' broken, slider moved ' + moved + ', errors ' + window.__errors.join(' | ');
});
</script>"""


def _chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True,
                          timeout=180)


def _title_after_load(page: Path, profile: Path) -> str:
    done = _chromium(["--virtual-time-budget=10000", "--dump-dom", page.as_uri()], profile)
    match = re.search(r"<title>(.*?)</title>", done.stdout, re.S)
    assert match, f"no <title> in Chromium's DOM dump (rc {done.returncode}): {done.stderr[-2000:]}"
    return match.group(1)


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("browser") / "run"
    config = build_config(dict(data="ring8", iterations=6, batch_size=32, g_hidden=16, d_hidden=16, g_layers=2,
                               d_layers=2, eval_samples=64, log_every=2, frame_every=2))
    train(config, run, progress=False)
    return write_report(run)


def test_every_picture_decodes_and_the_slider_works(report: Path, tmp_path: Path) -> None:
    checked = tmp_path / "checked.html"
    checked.write_text(report.read_text().replace("<head>", "<head>" + CHECK, 1))
    assert _title_after_load(checked, tmp_path / "profile") == "ok"


def test_the_check_catches_a_broken_picture(report: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.html"
    text = report.read_text().replace("<head>", "<head>" + CHECK, 1)
    broken.write_text(text.replace("<body>", '<body><img src="data:image/png;base64,AAAA" alt="broken">', 1))
    assert _title_after_load(broken, tmp_path / "profile").startswith("bad: ")


def test_screenshot_is_not_blank(report: Path, tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    done = _chromium([f"--screenshot={shot}", "--window-size=1200,2000", report.as_uri()], tmp_path / "profile")
    assert shot.is_file(), f"no screenshot (rc {done.returncode}): {done.stderr[-2000:]}"
    with Image.open(shot) as im:
        assert im.format == "PNG" and im.size == (1200, 2000)
        rgb = im.convert("RGB")
        colours = rgb.getcolors(1 << 20)
        assert colours is not None and len(colours) > 200  # text, tables, plots, heatmaps: many colours
        assert max(hi - lo for lo, hi in rgb.getextrema()) > 200  # dark text on a light page
