"""In headless Chromium: the System health page and its banner render under the
Content-Security-Policy (no inline style or script is refused)."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from health.jobs import check_providers
from voiceapp.tests.test_browser import WAIT, browser, csp_violations, log_in  # noqa: F401


def test_the_health_page_renders_in_a_browser(browser, live_server, twilio_up, people, world_a):  # noqa: F811
    twilio_up.twilio_tokens.pop(world_a.account.account_sid)
    check_providers()
    people["owner_a"].set_password("pw-for-tests")
    people["owner_a"].save()
    log_in(browser, live_server.url, people["owner_a"].username, "pw-for-tests")
    banner = browser.find_element(By.CSS_SELECTOR, ".health-banner li.error")
    assert world_a.account.account_sid in banner.text
    banner.find_element(By.LINK_TEXT, "System health").click()
    WebDriverWait(browser, WAIT).until(
        expected_conditions.presence_of_element_located((By.ID, "providers"))
    )
    state = browser.find_element(By.CSS_SELECTOR, "#providers tr.provider .state").text
    assert state.startswith("failing since")
    assert csp_violations(browser) == []
