"""A real headless browser for the report tests: Debian's ``chromium``.

``find_chromium`` returns the binary, installing the Debian package when it is missing and the
tests run as root with ``apt-get`` (set ``OSAN_NO_BROWSER_INSTALL=1`` to forbid that), or the
reason it cannot, which the tests report when they skip.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

# Injected at the top of a copy of the page: records script errors and, once the page has
# loaded, how many <img> there are and which did not decode (naturalWidth 0).
PROBE = """<script>
window.__osanErrors = [];
window.addEventListener("error", function (e) {
  window.__osanErrors.push(String(e.message || (e.target && e.target.src || e.type).slice(0, 80)));
}, true);
window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.images);
  var bad = imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); })
                .map(function (i) { return i.getAttribute("data-file") || i.alt; });
  var out = document.createElement("pre");
  out.id = "osan-probe";
  out.textContent = JSON.stringify({images: imgs.length, broken: bad,
                                    errors: window.__osanErrors,
                                    widths: imgs.map(function (i) { return i.naturalWidth; })});
  document.body.appendChild(out);
});
</script>"""


def _which() -> str | None:
    for name in (os.environ.get("OSAN_CHROMIUM"), *NAMES):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def find_chromium() -> tuple[str | None, str]:
    """``(path, "")`` or ``(None, why not)``."""
    found = _which()
    if found:
        return found, ""
    if os.environ.get("OSAN_NO_BROWSER_INSTALL"):
        return None, "no chromium on PATH (OSAN_NO_BROWSER_INSTALL forbids installing it)"
    if not shutil.which("apt-get"):
        return None, "no chromium on PATH and no apt-get to install it (install Chromium)"
    if os.geteuid() != 0:
        return None, "no chromium on PATH; installing it needs root: apt-get install chromium"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]
    why = ""
    for cmd in (install, ["apt-get", "update"], install):
        try:
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
        except (OSError, subprocess.TimeoutExpired) as e:
            return None, f"`{' '.join(cmd)}` failed: {e}"
        if done.returncode != 0:
            why = (done.stderr.strip().splitlines() or ["?"])[-1]
        if cmd is install and done.returncode == 0:
            break
    found = _which()
    return (found, "") if found else (None, f"apt-get install chromium failed: {why}")


def render(chromium: str, page: Path, tmp: Path) -> dict:
    """Load a copy of ``page`` (beside it, so relative paths resolve) in headless Chromium and
    return the probe's findings: ``images``, ``broken`` (files), ``errors``, ``widths``."""
    text = page.read_text()
    probe = page.parent / f".probe-{page.name}"
    probe.write_text(text.replace("<head>", "<head>" + PROBE, 1))
    try:
        done = subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                f"--user-data-dir={tmp / 'chromium-profile'}",
                "--virtual-time-budget=10000",
                "--dump-dom",
                probe.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        probe.unlink()
    m = re.search(r'<pre id="osan-probe">(.*?)</pre>', done.stdout, re.S)
    if m is None:
        raise AssertionError(
            f"the page did not finish loading in chromium (rc {done.returncode}): "
            f"{done.stderr[-500:]}"
        )
    return json.loads(html.unescape(m.group(1)))
