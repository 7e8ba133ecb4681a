"""Deliveries to a tenant's endpoint (a small HTTP server on 127.0.0.1 here): signed, posted
once however often the job runs, retried with backoff on a non-2xx, a timeout or a refused
connection, and recorded with the endpoint's answer."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from telephony.tests.test_texts import empty_queues, run_jobs  # noqa: F401 (fixture)
from voiceapp.retries import BACKOFF_SECONDS, MAX_ATTEMPTS
from webhooks import delivery as delivery_module
from webhooks.delivery import attempt_delivery, deliver, redeliver, sweep_deliveries
from webhooks.models import Delivery, DeliveryStatus, WebhookEndpoint
from webhooks.signing import sign, verify

SECRET = "a-long-shared-secret-for-tests"


class Receiver(BaseHTTPRequestHandler):
    """The shop's system: checks each signature as the docs tell receivers to, and answers
    with the next scripted status (200 once the script runs out)."""

    received: list[dict] = []
    script: list[int] = []
    delay = 0.0

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        timestamp = self.headers["X-Webhook-Timestamp"]
        expected = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
        Receiver.received.append(
            {
                "headers": dict(self.headers),
                "body": body,
                "valid": hmac.compare_digest(
                    "sha256=" + expected.hexdigest(), self.headers["X-Webhook-Signature"]
                )
                and abs(time.time() - int(timestamp)) <= 300,
            }
        )
        time.sleep(Receiver.delay)
        status = Receiver.script.pop(0) if Receiver.script else 200
        self.send_response(status)
        self.end_headers()
        self.wfile.write(f"status {status} ".encode() + b"x" * 3000)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def receiver_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/orders"
    server.shutdown()


@pytest.fixture
def endpoint(world_a, receiver_url, empty_queues):  # noqa: F811
    Receiver.received.clear()
    Receiver.script.clear()
    Receiver.delay = 0.0
    return WebhookEndpoint.objects.create(tenant=world_a.tenant, url=receiver_url, secret=SECRET)


def an_event(world, key="order-1-created", event="order.created") -> Delivery:
    (delivery,) = deliver(world.tenant.pk, event, {"order": {"number": "101"}}, key)
    return delivery


@pytest.mark.django_db
def test_a_delivery_is_signed_posted_once_and_recorded(
    world_a, endpoint, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        delivery = an_event(world_a)
    assert run_jobs() == [f"webhook-{delivery.pk}"]
    attempt_delivery(delivery.pk)  # the job again: nothing more is posted
    (request,) = Receiver.received
    assert request["valid"]
    headers = request["headers"]
    assert headers["X-Webhook-Event"] == "order.created"
    assert headers["X-Webhook-Delivery"] == str(delivery.uid)
    assert headers["Content-Type"] == "application/json"
    sent = json.loads(request["body"])
    assert sent["id"] == str(delivery.uid) and sent["event"] == "order.created"
    assert sent["data"] == {"order": {"number": "101"}}
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.attempts == 1
    assert delivery.response_status == 200 and delivery.last_error == ""
    assert delivery.response_body.startswith("status 200 ") and len(delivery.response_body) == 2048
    assert delivery.duration_ms is not None and delivery.delivered_at is not None


@pytest.mark.django_db
def test_a_failed_delivery_is_retried_with_backoff(
    world_a, endpoint, django_capture_on_commit_callbacks
):
    Receiver.script[:] = [500]
    delivery = an_event(world_a)
    before = timezone.now()
    attempt_delivery(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING and delivery.attempts == 1
    assert delivery.response_status == 500 and delivery.response_body.startswith("status 500")
    assert "500" in delivery.last_error
    wait = (delivery.next_attempt_at - before).total_seconds()
    assert BACKOFF_SECONDS[0] <= wait < BACKOFF_SECONDS[0] + 5
    assert sweep_deliveries() == 0  # not due yet
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep_deliveries() == 1
    assert run_jobs() == [f"webhook-{delivery.pk}"]
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.attempts == 2
    assert delivery.response_status == 200 and delivery.last_error == ""
    first, second = Receiver.received
    assert first["valid"] and second["valid"] and first["body"] == second["body"]
    assert first["headers"]["X-Webhook-Delivery"] == second["headers"]["X-Webhook-Delivery"]


@pytest.mark.django_db
def test_a_refused_connection_is_retried(world_a, endpoint):
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(url="http://127.0.0.1:9/")
    delivery = an_event(world_a)
    attempt_delivery(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING and delivery.next_attempt_at is not None
    assert "ConnectError" in delivery.last_error and delivery.response_status is None


@pytest.mark.django_db
def test_a_slow_endpoint_times_out_and_is_retried(world_a, endpoint, monkeypatch):
    monkeypatch.setattr(delivery_module, "TIMEOUT", 0.2)
    Receiver.delay = 1.0
    delivery = an_event(world_a)
    attempt_delivery(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING and "Timeout" in delivery.last_error


@pytest.mark.django_db
def test_a_delivery_gives_up_after_the_last_attempt(world_a, endpoint):
    Receiver.script[:] = [503]
    delivery = an_event(world_a)
    Delivery.objects.filter(pk=delivery.pk).update(attempts=MAX_ATTEMPTS - 1)
    attempt_delivery(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED and delivery.attempts == MAX_ATTEMPTS
    assert delivery.next_attempt_at is None and delivery.response_status == 503


@pytest.mark.django_db
def test_redeliver_posts_again_with_the_same_delivery_id(
    world_a, endpoint, django_capture_on_commit_callbacks
):
    delivery = an_event(world_a)
    attempt_delivery(delivery.pk)
    with django_capture_on_commit_callbacks(execute=True):
        assert redeliver([delivery.pk]) == 1
    run_jobs()
    assert len(Receiver.received) == 2
    assert {r["headers"]["X-Webhook-Delivery"] for r in Receiver.received} == {str(delivery.uid)}
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.attempts == 2


@pytest.mark.django_db
def test_one_delivery_per_key_per_endpoint_and_only_to_endpoints_that_want_it(
    world_a, world_b, endpoint, receiver_url
):
    assert an_event(world_a).pk == an_event(world_a).pk
    WebhookEndpoint.objects.create(
        tenant=world_a.tenant, url=receiver_url, secret=SECRET, events="order.status_changed"
    )
    WebhookEndpoint.objects.create(
        tenant=world_a.tenant, url=receiver_url, secret=SECRET, active=False
    )
    assert len(deliver(world_a.tenant.pk, "order.created", {}, "k2")) == 1
    assert len(deliver(world_a.tenant.pk, "order.status_changed", {}, "k3")) == 2
    assert deliver(world_b.tenant.pk, "order.created", {}, "k4") == []  # B has no endpoint


@pytest.mark.django_db
def test_an_endpoint_turned_off_before_its_turn_gets_nothing(world_a, endpoint):
    delivery = an_event(world_a)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(active=False)
    attempt_delivery(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED and "turned off" in delivery.last_error
    assert Receiver.received == []


@pytest.mark.django_db
def test_the_secret_is_stored_encrypted(endpoint):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM webhooks_webhookendpoint WHERE id = %s", [endpoint.pk])
        (stored,) = cursor.fetchone()
    assert SECRET not in stored
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).secret == SECRET


def test_verify_accepts_a_fresh_signature_and_refuses_the_rest():
    body = b'{"event":"order.created"}'
    now = 1_800_000_000
    good = sign(SECRET, str(now), body)
    assert verify(SECRET, timestamp=str(now), signature=good, body=body, now=now + 299)
    assert not verify(SECRET, timestamp=str(now), signature=good, body=body, now=now + 301)
    assert not verify(SECRET, timestamp=str(now), signature=good, body=body + b" ", now=now)
    assert not verify("another-secret", timestamp=str(now), signature=good, body=body, now=now)
    assert not verify(SECRET, timestamp=str(now + 1), signature=good, body=body, now=now)
    assert not verify(SECRET, timestamp="soon", signature=good, body=body, now=now)
