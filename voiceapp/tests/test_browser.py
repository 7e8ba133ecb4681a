"""In a real browser (headless Chromium): the admin and the API docs work under the
Content-Security-Policy, and the docs load every asset from this server's /static/.

Chromium, chromedriver (Debian's packages) and Selenium are installed by scripts/test; a browser
that cannot start fails the test. Chromium resolves no host but localhost, so nothing here can
reach the internet even if a page asked for it: the test sees the attempt instead.
"""

from __future__ import annotations

import json
import os
import shutil
from urllib.parse import urlsplit

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

WAIT = 60  # seconds: generous, the machine is shared


@pytest.fixture
def browser():
    # Selenium Manager (which would look for drivers and send usage stats out) never runs:
    # the driver and the browser are given, and stats are off in any case.
    os.environ["SE_AVOID_STATS"] = "true"
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not chromedriver:
        pytest.fail("chromium and chromedriver are needed (scripts/services installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless=new",
        "--no-sandbox",  # as root in CI
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,900",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    driver.set_page_load_timeout(WAIT)
    try:
        yield driver
    finally:
        driver.quit()


def network_events(driver, method: str) -> list[dict]:
    """The parameters of the browser's `method` network events since the last call."""
    events = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == method:
            events.append(message["params"])
    return events


def requested_urls(driver) -> list[str]:
    """Every URL the browser asked for since the last call."""
    return [
        event["request"]["url"] for event in network_events(driver, "Network.requestWillBeSent")
    ]


def document_headers(driver) -> dict[str, str]:
    """The response headers of the last page loaded (since the last call)."""
    documents = [
        event["response"]
        for event in network_events(driver, "Network.responseReceived")
        if event["type"] == "Document"
    ]
    return {name.lower(): value for name, value in documents[-1]["headers"].items()}


def csp_violations(driver) -> list[str]:
    """Console messages since the last call that say the policy blocked something."""
    return [
        entry["message"]
        for entry in driver.get_log("browser")
        if "Content Security Policy" in entry["message"] or "Refused to" in entry["message"]
    ]


def log_in(driver, base: str, username: str, password: str) -> None:
    driver.get(base + "/admin/login/?next=/admin/")
    driver.find_element(By.NAME, "username").send_keys(username)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    WebDriverWait(driver, WAIT).until(expected_conditions.url_to_be(base + "/admin/"))


def test_admin_works_under_the_csp(browser, live_server, world_a):
    base = live_server.url
    log_in(browser, base, world_a.staff.username, "pw-for-tests")
    assert "Site administration" in browser.page_source
    for path in (
        f"/admin/telephony/twilioaccount/{world_a.account.pk}/change/",
        f"/admin/calls/call/{world_a.call.pk}/change/",
    ):
        browser.get(base + path)
        WebDriverWait(browser, WAIT).until(
            expected_conditions.presence_of_element_located((By.ID, "content-main"))
        )
        assert "default-src 'self'" in document_headers(browser)["content-security-policy"]
        # The admin's own scripts ran (jQuery, namespaced as `django.jQuery`).
        assert browser.execute_script("return typeof window.django.jQuery") == "function"
    assert csp_violations(browser) == []


def test_api_docs_render_from_this_server_only(browser, live_server, world_a):
    base = live_server.url
    log_in(browser, base, world_a.staff.username, "pw-for-tests")
    requested_urls(browser)  # forget the login's requests
    browser.get(base + "/api/docs/")
    # Swagger UI built its page from the schema: an operation block per endpoint.
    WebDriverWait(browser, WAIT).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, ".swagger-ui .opblock"))
    )
    assert "Voice agents API" in browser.find_element(By.CSS_SELECTOR, ".swagger-ui .title").text
    urls = requested_urls(browser)
    server = urlsplit(base).netloc
    assert urls, "the browser's network log is empty"
    assert [u for u in urls if urlsplit(u).netloc != server and not u.startswith("data:")] == []
    assets = [u for u in urls if u.endswith((".js", ".css")) or "script=" in u]
    assert any("/static/drf_spectacular_sidecar/swagger-ui-dist/" in u for u in assets)
    for url in assets:
        path = urlsplit(url).path
        assert path.startswith("/static/") or path == "/api/docs/", url
    assert csp_violations(browser) == []
