"""The analytics page in a real browser (headless Chromium): the charts are drawn from the
vendored Chart.js, every asset comes from this server, and the CSP blocks nothing."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from analytics.tests.conftest import FIRST, LAST
from voiceapp.tests.test_browser import (  # noqa: F401  (browser is a fixture)
    WAIT,
    browser,
    csp_violations,
    log_in,
    requested_urls,
)

pytestmark = pytest.mark.django_db(transaction=True)

# Whether a canvas has any pixel that is not fully transparent: a chart was painted on it.
PAINTED = """
const canvas = document.getElementById(arguments[0]);
const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
for (let i = 3; i < pixels.length; i += 4) { if (pixels[i] !== 0) return true; }
return false;
"""


def test_the_charts_are_drawn_under_the_csp(browser, live_server, known, world_a):  # noqa: F811
    base = live_server.url
    log_in(browser, base, world_a.staff.username, "pw-for-tests")
    requested_urls(browser)  # forget the login's requests
    browser.get(f"{base}/admin/analytics/?first={FIRST}&last={LAST}")
    WebDriverWait(browser, WAIT).until(
        expected_conditions.presence_of_element_located(
            (By.CSS_SELECTOR, "body[data-charts-drawn='4']")
        )
    )
    for canvas in ("chart-calls", "chart-orders", "chart-latency", "chart-funnels"):
        assert browser.execute_script(PAINTED, canvas), canvas
    assert browser.find_element(By.ID, "summary").text.startswith("Calls 4")
    server = urlsplit(base).netloc
    urls = requested_urls(browser)
    assert any(u.endswith("/static/analytics/vendor/chart.umd-4.4.9.js") for u in urls)
    assert [u for u in urls if urlsplit(u).netloc != server and not u.startswith("data:")] == []
    assert csp_violations(browser) == []
