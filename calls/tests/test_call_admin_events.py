"""A call's page in the admin shows its events to the tenant's staff (not only to superusers)."""

from __future__ import annotations

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_staff_see_the_calls_events_on_its_page(client, world_a, world_b):
    client.force_login(world_a.staff)
    page = client.get(reverse("admin:calls_call_change", args=[world_a.call.pk]))
    assert page.status_code == 200
    (events,) = page.context["inline_admin_formsets"]
    assert [form.original for form in events] == [world_a.event]
    body = page.content.decode()
    assert "Dtmf" in body and "&quot;digit&quot;: &quot;1&quot;" in body
    # another tenant's call stays out of reach
    other = client.get(reverse("admin:calls_call_change", args=[world_b.call.pk]))
    assert other.status_code in (302, 404)
