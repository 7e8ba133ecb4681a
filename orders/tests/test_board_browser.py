"""The live boards in a real browser (headless Chromium) against a real server process
(`manage.py serve` on the Redis channel layer), with the changes made by other processes: a
shell, this test process, and the console's buttons in the browser itself.

Each change must show on every open screen within UPDATE_WITHIN seconds, without a reload.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from django.test import override_settings
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from orders.actions import change_status
from orders.models import Order
from orders.tests.test_boards import make_menu, place
from voiceapp.tests import test_browser
from voiceapp.tests.test_browser import WAIT, csp_violations, log_in

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]
UPDATE_WITHIN = 3  # seconds from a commit to every open screen (the goal is one)
REDIS_LAYER = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [settings.REDIS_URL]},
    }
}

browser = test_browser.browser  # the headless Chromium fixture


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def process_env() -> dict[str, str]:
    """Another process of this project on this test run's database and Redis channel layer."""
    db = settings.DATABASES["default"]
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "voiceapp.test_settings",
        "TEST_DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "TEST_CHANNEL_LAYER": "redis",
        # Daphne serves the static files (the boards' scripts) itself only in DEBUG.
        "DEBUG": "true",
        "ALLOWED_HOSTS": "localhost",
        "PRELOAD_SPEECH_MODELS": "false",
        "PREPARE_GREETINGS": "false",
        "LOG_LEVEL": "warning",
    }


@contextmanager
def serve(port: int):
    """`manage.py serve` on `port` until the block ends (then stopped as production is)."""
    process = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--bind", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=process_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    # The browser resolves no name but localhost (test_browser's host rules), not even an IP.
    url = f"http://localhost:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                if process.poll() is None:
                    process.kill()
                raise RuntimeError(
                    "the server did not start:\n" + process.stdout.read().decode()[-3000:]
                )
            time.sleep(0.2)
        yield url
    finally:
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def in_another_process(code: str) -> None:
    """Run `code` in a `manage.py shell` of its own (as an rq worker or a second web process)."""
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=process_env(),
        capture_output=True,
        timeout=90,
    )
    assert done.returncode == 0, done.stderr.decode()[-3000:]


def ticket(driver, order: Order, column: str) -> list:
    return driver.find_elements(By.CSS_SELECTOR, f"#{column} .ticket[data-order='{order.pk}']")


def wait_for(driver, condition, timeout: float = UPDATE_WITHIN, message: str = ""):
    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(
        lambda d: condition(d), message
    )


def wait_live(driver) -> None:
    wait_for(
        driver,
        lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-connection") == "live",
        WAIT,
        "the socket never opened",
    )


def open_page(driver, url: str) -> None:
    driver.get(url)
    wait_live(driver)


@pytest.fixture
def server():
    with serve(free_port()) as url:
        yield url


@pytest.fixture
def menu(world_a):
    return make_menu(world_a.tenant)


def test_the_board_follows_changes_made_by_other_processes(world_a, menu, server, browser):
    first = place(menu)
    log_in(browser, server, world_a.staff.username, "pw-for-tests")
    open_page(browser, server + "/orders/a/board/")
    assert ticket(browser, first, "received")[0].text == first.number
    assert browser.find_element(By.ID, "connection").text == "Live"

    # A status change committed by a shell process: through Redis to the server's consumer.
    in_another_process(
        "from orders.actions import change_status; "
        f"change_status({first.pk}, 'ready', by='kitchen')"
    )
    ready = wait_for(browser, lambda d: ticket(d, first, "ready"), message="ready did not show")[0]
    assert not ticket(browser, first, "received")
    # Ready ones stand out, and every number is readable across a room.
    assert ready.value_of_css_property("background-color") == "rgba(19, 165, 56, 1)"
    assert float(ready.value_of_css_property("font-size").removesuffix("px")) >= 80

    # A new order placed by this test process (as a call's checkout in another web process).
    with override_settings(CHANNEL_LAYERS=REDIS_LAYER):
        second = place(menu, phone="+14155550177")
        wait_for(browser, lambda d: ticket(d, second, "received"), message="no new order")
        assert ticket(browser, second, "received")[0].text == second.number

        # Picked-up and cancelled orders leave the board.
        change_status(first.pk, "picked_up", by="counter")
        change_status(second.pk, "cancelled", by="counter")
        wait_for(
            browser,
            lambda d: not d.find_elements(By.CSS_SELECTOR, ".ticket"),
            message="closed orders stayed",
        )
    assert csp_violations(browser) == []


CARD = """
const card = document.querySelector('.card[data-order="' + arguments[0] + '"]');
if (!card) return null;
const refused = card.querySelector(".refused");
return {
  status: card.dataset.status,
  text: card.innerText,
  buttons: Array.from(card.querySelectorAll("button.action"), (b) => b.textContent),
  steps: Array.from(card.querySelectorAll(".steps li"), (li) => li.dataset.step),
  refused: refused ? refused.textContent : null,
  done: card.parentElement.id === "done-orders",
};
"""


def card(driver, order: Order) -> dict | None:
    """The console's card of `order`, read in one go (the console redraws on every message)."""
    return driver.execute_script(CARD, order.pk)


def card_when(driver, order: Order, *, status: str = "", refused: bool = False) -> dict | None:
    """The card once it shows `status` (or a refusal); None meanwhile (a wait's condition)."""
    shown = card(driver, order)
    if shown is None or (status and shown["status"] != status):
        return None
    return shown if shown["refused"] or not refused else None


def click(driver, order: Order, status: str) -> None:
    selector = f".card[data-order='{order.pk}'] button[data-status='{status}']"
    for _ in range(5):  # a message may redraw the card between finding the button and the click
        try:
            driver.find_element(By.CSS_SELECTOR, selector).click()
            return
        except StaleElementReferenceException:
            continue
    raise AssertionError(f"could not click {selector}")


def test_a_console_click_changes_the_order_everywhere(world_a, menu, server, browser):
    order = place(menu, quantity=2)
    log_in(browser, server, world_a.staff.username, "pw-for-tests")
    open_page(browser, server + "/orders/a/console/")
    console = browser.current_window_handle
    shown = card(browser, order)
    assert order.number in shown["text"] and "+•••••••0123" in shown["text"]
    assert "2 \u00d7 Latte (Large)" in shown["text"] and "Total 10.00 USD" in shown["text"]
    assert shown["buttons"] == ["Start", "Ready", "Cancel"]  # received: not yet "Picked up"
    assert shown["steps"] == ["received"]

    # A second window, not a tab: both stay visible, so the board can only learn of the click
    # from the socket's push (a tab brought to the front would ask for the whole state again).
    browser.switch_to.new_window("window")
    open_page(browser, server + "/orders/a/board/")
    board = browser.current_window_handle

    browser.switch_to.window(console)
    click(browser, order, "in_progress")
    wait_for(
        browser,
        lambda d: Order.objects.get(pk=order.pk).status == "in_progress",
        message="the click did not reach the database",
    )
    shown = wait_for(browser, lambda d: card_when(d, order, status="in_progress"))
    assert shown["buttons"] == ["Ready", "Cancel"]
    assert shown["steps"] == ["received", "in_progress"] and shown["refused"] is None
    browser.switch_to.window(board)
    wait_for(browser, lambda d: ticket(d, order, "in_progress"), message="board missed the click")
    assert browser.execute_script("return document.visibilityState") == "visible"

    # A stale console: the order was cancelled behind its back (no event reached it), so its
    # "Ready" button is refused, with the reason, and the card shows the order as it is.
    Order.objects.filter(pk=order.pk).update(status="cancelled")
    browser.switch_to.window(console)
    click(browser, order, "ready")
    shown = wait_for(browser, lambda d: card_when(d, order, refused=True), message="no reason")
    assert shown["refused"] == f"Order {order.number} is cancelled; it cannot become ready."
    assert shown["status"] == "cancelled" and shown["buttons"] == []
    assert Order.objects.get(pk=order.pk).status == "cancelled"
    assert csp_violations(browser) == []


@pytest.mark.timeout(300)
def test_the_board_reconnects_and_catches_up_after_a_drop(world_a, menu, browser):
    order = place(menu)
    port = free_port()
    with serve(port) as url:
        log_in(browser, url, world_a.staff.username, "pw-for-tests")
        open_page(browser, url + "/orders/a/board/")
        assert ticket(browser, order, "received")
    wait_for(
        browser,
        lambda d: (
            d.find_element(By.TAG_NAME, "body").get_attribute("data-connection") == "reconnecting"
        ),
        WAIT,
        "the board did not notice the drop",
    )
    assert browser.find_element(By.ID, "connection").text == "Reconnecting…"
    # Changed while no server was up: no board could be told.
    change_status(order.pk, "ready", by="counter")
    later = place(menu, phone="+14155550199")
    with serve(port):
        wait_live(browser)
        wait_for(browser, lambda d: ticket(d, order, "ready"), message="no resync")
        assert ticket(browser, later, "received")
    assert csp_violations(browser) == []
