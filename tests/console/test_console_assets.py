"""Everything the console's pages load ships in the package (no CDN), with its licence; the
events/s meter."""

from __future__ import annotations

import re

from outrigger.console.deps import HERE, RateMeter

ASSET = re.compile(r'(?:src|href)="([^"]+\.(?:js|css))"')


def test_pages_load_only_packaged_assets() -> None:
    templates = list((HERE / "templates").glob("*.html"))
    assert len(templates) >= 10
    for template in templates:
        text = template.read_text()
        assert "//" not in "".join(ASSET.findall(text)), template  # no other origin
        for asset in ASSET.findall(text):
            assert asset.startswith("/console/static/"), (template, asset)
            assert (HERE / "static" / asset.removeprefix("/console/static/")).is_file()


def test_vendored_libraries_keep_their_versions_and_licences() -> None:
    static = HERE / "static"
    assert "(v1.6.32)" in (static / "uPlot.iife.min.js").read_text()[:100]
    assert 'version:"2.0.11"' in (static / "htmx.min.js").read_text()
    assert "MIT" in (static / "LICENSE.uplot.txt").read_text()
    assert "Zero-Clause BSD" in (static / "LICENSE.htmx.txt").read_text()


def test_the_event_rate_is_measured_over_the_last_minute() -> None:
    now = [0.0]
    meter = RateMeter(window_s=60, clock=lambda: now[0])
    assert meter.rate(0) is None  # one sample: no rate yet
    now[0] = 10
    assert meter.rate(100) == 10.0
    for _ in range(10):  # a steady 5 events/s afterwards
        now[0] += 10
        total = 100 + 5 * (now[0] - 10)
        rate = meter.rate(total)
    assert rate is not None and abs(rate - 5.0) < 0.01  # the early burst has left the window
