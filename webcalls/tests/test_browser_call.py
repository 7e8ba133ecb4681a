"""A test call in a real browser (headless Chromium) against a real server process: the fake
microphone plays a WAV file (a second-long pause, then "What are your hours?"), the agent runs
on the offline providers; the page plays the greeting, shows the transcript with the answer
and its latency, and the call is recorded as a test."""

from __future__ import annotations

import os
import time
import wave

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from calls.models import Call, CallEvent, Turn
from calls.providers.local_tts import piper_pcm16
from telephony.tests.test_end_to_end import offline_agent, server_env, start_server
from voiceapp.tests.test_browser import WAIT, csp_violations, log_in

pytestmark = pytest.mark.django_db(transaction=True)


def question_wav(path, *, pause: float, tail: float) -> str:
    """`pause` seconds of silence, the caller's question (piper's voice), `tail` of silence."""
    pcm, rate = piper_pcm16("What are your hours?")
    silence = b"\x00\x00"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(silence * int(pause * rate) + pcm + silence * int(tail * rate))
    return str(path)


def chromium_with_microphone(wav: str) -> webdriver.Chrome:
    os.environ["SE_AVOID_STATS"] = "true"
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost",
        # The microphone is the WAV file (played once), and its permission is granted.
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-audio-capture={wav}%noloop",
        "--autoplay-policy=no-user-gesture-required",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(
        service=Service(executable_path="/usr/bin/chromedriver"), options=options
    )
    driver.set_page_load_timeout(WAIT)
    return driver


def transcript(driver) -> str:
    return driver.find_element(By.ID, "transcript").text.lower()


def test_a_test_call_in_the_browser(world_a, tmp_path):
    offline_agent(world_a)
    # The pause lets the greeting finish first (the page starts the microphone and the call at
    # the same click); the tail keeps the line quiet until the answer has been heard.
    wav = question_wav(tmp_path / "question.wav", pause=4.0, tail=30.0)
    env = {
        **server_env("http://127.0.0.1:9"),  # no Twilio: a browser call never reaches it
        "DEBUG": "true",  # Daphne serves the page's static files itself only in DEBUG
        "ALLOWED_HOSTS": "localhost,127.0.0.1",
    }
    with start_server(env) as (_, url):
        base = url.replace("127.0.0.1", "localhost")  # the browser resolves only localhost
        driver = chromium_with_microphone(wav)
        try:
            log_in(driver, base, world_a.staff.username, "pw-for-tests")
            driver.get(f"{base}/admin/calls/agent/{world_a.agent.pk}/change/")
            driver.find_element(By.CSS_SELECTOR, "a.talk-to-agent").click()
            WebDriverWait(driver, WAIT).until(lambda d: d.find_elements(By.ID, "start"))
            driver.find_element(By.ID, "start").click()

            wait = WebDriverWait(driver, WAIT)
            wait.until(lambda d: "thanks for calling" in transcript(d))
            # The greeting was heard: its audio arrived and played (its marks came back, or
            # the server would not have written the turn this soon).
            body = driver.find_element(By.TAG_NAME, "body")
            assert int(body.get_attribute("data-frames-received")) > 50  # > 1 s of audio
            assert float(body.get_attribute("data-seconds-played")) > 1.0
            wait.until(lambda d: "nine to five" in transcript(d))
            assert "hours" in transcript(driver)  # what the caller said, as heard
            answer = driver.find_element(By.CSS_SELECTOR, "#transcript li.agent:last-of-type")
            latency = answer.find_element(By.CLASS_NAME, "latency").text
            assert latency.endswith(" ms") and int(latency.split()[0]) > 0
            assert int(body.get_attribute("data-frames-sent")) > 200  # > 4 s of microphone
            call_id = int(body.get_attribute("data-call-id"))
            driver.find_element(By.ID, "hang-up").click()
            wait.until(
                lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-state") == "ended"
            )
            assert csp_violations(driver) == []
        finally:
            driver.quit()

        deadline = time.monotonic() + 20
        while (call := Call.objects.get(pk=call_id)).status != "completed":
            assert time.monotonic() < deadline, call.status
            time.sleep(0.2)
    assert call.from_number == f"browser:{world_a.staff.username}"
    assert call.agent_id == world_a.agent.pk and call.outcome == "caller_hung_up"
    assert call.recording.name.endswith(".wav")
    assert CallEvent.objects.filter(call=call, kind="test_call").exists()
    turns = list(Turn.objects.filter(call=call).order_by("index").values_list("speaker", "text"))
    assert turns[0] == ("agent", "Hello, thanks for calling. How can I help?")
    assert turns[1][0] == "caller" and "hours" in turns[1][1].lower()
    assert turns[2] == ("agent", "We are open from nine to five every day.")
