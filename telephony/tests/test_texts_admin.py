"""The admin's texts and opt-outs: a tenant's staff see only theirs, and may retry a text."""

from __future__ import annotations

import pytest
from django.urls import reverse

from telephony.models import Text, TextOptOut, TextStatus
from telephony.tests.test_texts import CUSTOMER, empty_queues  # noqa: F401 (fixture)


def url(model, action, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{action}", args=args)


def rows_of(world):
    text = Text.objects.create(
        tenant=world.tenant,
        key="order-1-ready",
        to=CUSTOMER,
        from_number=world.number.number,
        body="ready",
        status=TextStatus.FAILED,
        attempts=6,
        last_error="Twilio 503 error 20503: down",
    )
    opt_out = TextOptOut.objects.create(tenant=world.tenant, phone=CUSTOMER, keyword="STOP")
    return text, opt_out


@pytest.fixture
def rows(world_a, world_b):
    return rows_of(world_a), rows_of(world_b)


@pytest.fixture
def staff_a(client, world_a):
    client.force_login(world_a.staff)
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("index, model", [(0, Text), (1, TextOptOut)])
def test_staff_see_only_their_tenants_rows(staff_a, rows, index, model):
    a, b = rows
    response = staff_a.get(url(model, "changelist"), {"q": CUSTOMER})
    assert {obj.pk for obj in response.context["cl"].result_list} == {a[index].pk}
    assert staff_a.get(url(model, "change", b[index].pk)).status_code == 302
    assert staff_a.get(url(model, "change", a[index].pk)).status_code == 200


@pytest.mark.django_db
def test_the_text_list_shows_status_attempts_and_last_error(staff_a, rows):
    page = staff_a.get(url(Text, "changelist")).content.decode()
    assert "Failed" in page and "Twilio 503 error 20503: down" in page


@pytest.mark.django_db
@pytest.mark.usefixtures("empty_queues")
def test_retry_now_queues_own_texts_only(
    staff_a,
    rows,
    django_capture_on_commit_callbacks,
):
    (mine, _), (theirs, _) = rows
    with django_capture_on_commit_callbacks(execute=True):
        staff_a.post(
            url(Text, "changelist"),
            {"action": "retry_now", "_selected_action": [mine.pk, theirs.pk]},
        )
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.status == TextStatus.PENDING and mine.next_attempt_at is not None
    assert theirs.status == TextStatus.FAILED
    import django_rq

    assert django_rq.get_queue("telephony").job_ids == [f"text-{mine.pk}"]
