"""In a real browser (headless Chromium), under the Content-Security-Policy: one click marks an
item sold out from the item list, and one click moves an order on from its page."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from orders.models import Item, Order, OrderStatus
from orders.tests.shop import build_shop
from voiceapp.tests.test_browser import WAIT, browser, csp_violations, log_in  # noqa: F401


def click_and_wait_for_message(driver, selector: str) -> str:
    driver.find_element(By.CSS_SELECTOR, selector).click()
    message = WebDriverWait(driver, WAIT).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "ul.messagelist li"))
    )
    return message.text


def test_sold_out_and_status_buttons_work_in_a_browser(browser, live_server, world_a):  # noqa: F811
    shop = build_shop(world_a)
    base = live_server.url
    log_in(browser, base, world_a.staff.username, "pw-for-tests")

    browser.get(base + "/admin/orders/item/")
    text = click_and_wait_for_message(browser, 'button[name="available"][value="0"]')
    assert text == "Latte a is sold out."
    assert not Item.objects.get(pk=shop.item.pk).available
    assert browser.find_element(By.CSS_SELECTOR, 'button[name="available"]').text == "Back on"

    browser.get(base + f"/admin/orders/order/{shop.order.pk}/change/")
    text = click_and_wait_for_message(browser, 'button[name="status"][value="ready"]')
    assert text == "1 order(s) now ready."
    assert Order.objects.get(pk=shop.order.pk).status == OrderStatus.READY
    assert csp_violations(browser) == []
