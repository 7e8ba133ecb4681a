"""The analytics figures match a known set of calls; the page and its CSV are tenant-scoped."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from django.urls import reverse

from analytics import queries
from analytics.tests.conftest import FIRST, LAST

pytestmark = pytest.mark.django_db


def test_summary_counts_the_tenants_calls_of_the_period_only(known):
    assert queries.summary(known.period) == {
        "calls": 4,
        "answered": 3,
        "answer_rate": 0.75,
        "average_duration": 70.0,
        "total_duration": 210,
        "cost": Decimal("0.3500"),
        "unheard": 2,
        "fallbacks": 1,
    }


def test_calls_per_local_day_by_direction_and_outcome(known):
    assert queries.calls_per_day(known.period) == [
        {
            "day": FIRST,
            "direction": "inbound",
            "outcome": "order_placed",
            "calls": 2,
            "answered": 2,
            "average_duration": 90.0,
            "cost": Decimal("0.3000"),
        },
        {
            "day": FIRST,
            "direction": "outbound",
            "outcome": "no_answer",
            "calls": 1,
            "answered": 0,
            "average_duration": None,
            "cost": None,
        },
        {
            "day": LAST,
            "direction": "outbound",
            "outcome": "interested",
            "calls": 1,
            "answered": 1,
            "average_duration": 30.0,
            "cost": Decimal("0.0500"),
        },
    ]


def test_latency_percentiles_by_provider_and_fallbacks_by_role(known):
    # Agent turns of 100, 200, 300, 400 ms: p50 250, p95 385 (linear interpolation).
    assert queries.latency_by_provider(known.period) == [
        {"llm": "scripted", "tts": "piper", "turns": 4, "p50": 250, "p95": 385}
    ]
    assert queries.fallbacks_by_role(known.period) == [{"role": "tts", "count": 1}]


def test_the_python_percentile_matches_postgresql():
    assert queries.percentile([400, 100, 300, 200], 0.5) == 250
    assert queries.percentile([100, 200, 300, 400], 0.95) == pytest.approx(385)
    assert queries.percentile([], 0.5) is None
    with pytest.raises(ValueError):
        queries.Percentile("latency_ms", 1.5)


def test_orders_and_revenue_per_day_and_the_campaign_funnel(known):
    assert queries.orders_per_day(known.period) == [
        {"day": FIRST, "orders": 2, "revenue": Decimal("20.00")},
        {"day": LAST, "orders": 1, "revenue": Decimal("5.00")},
    ]
    assert queries.campaign_funnels(known.period) == [
        {"campaign_name": "Winter offer", "dialed": 3, "answered": 2, "human": 1, "outcome": 1}
    ]


def test_chart_series_line_up_with_the_days(known):
    figures = queries.report(known.period)
    charts = queries.chart_data(known.period, figures)
    assert charts["days"] == ["2026-11-02", "2026-11-03"]
    assert charts["calls"] == {"inbound": [2, 0], "outbound": [1, 1]}
    assert charts["answered"] == [2, 1]
    assert charts["revenue"] == [20.0, 5.0]
    assert charts["funnels"] == [{"campaign": "Winter offer", "steps": [3, 2, 1, 1]}]


def page(client, user, name="analytics:dashboard", **params):
    client.force_login(user)
    params = {"first": FIRST.isoformat(), "last": LAST.isoformat(), **params}
    return client.get(reverse(name, kwargs=params.pop("kwargs", {})), params)


def test_staff_see_their_tenants_figures(client, known, world_a):
    response = page(client, world_a.staff)
    assert response.status_code == 200
    assert response.context["figures"]["summary"]["calls"] == 4
    body = response.content.decode()
    assert "0.3500 USD" in body  # the period's cost, in the tenant's currency
    assert 'id="analytics-data"' in body and "chart.umd-4.4.9.js" in body
    assert "<script>" not in body  # data through json_script, code from static files


def test_costs_read_as_money_on_the_page(client, known, world_a):
    from analytics.tests.conftest import at, make_call

    make_call(world_a, at(3, 12), "inbound", "completed", duration=11, cost=Decimal("0.0140000"))
    body = page(client, world_a.staff).content.decode()
    assert "0.3640 USD" in body and "0.0140000" not in body  # four places, not the raw sum


def test_another_tenants_staff_cannot_ask_for_its_figures(client, known, world_b):
    response = page(client, world_b.staff, tenant=known.period.tenant.pk)
    assert response.status_code == 400 and response.context["figures"] is None
    # Without a tenant, B's staff get B's own figures: none of A's calls.
    response = page(client, world_b.staff)
    assert response.context["period"].tenant == world_b.tenant
    assert response.context["figures"]["summary"]["calls"] == 1
    csv_response = page(
        client,
        world_b.staff,
        "analytics:export",
        tenant=known.period.tenant.pk,
        kwargs={"table": "calls"},
    )
    assert csv_response.status_code == 400 and b"order_placed" not in csv_response.content


def test_an_outsider_and_the_anonymous_see_nothing(client, known, outsider):
    response = page(client, outsider)
    assert response.status_code == 400
    assert "belong to no tenant" in response.content.decode()
    client.logout()
    response = client.get(reverse("analytics:dashboard"))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_csv_export_of_calls_per_day(client, known, world_a):
    response = page(client, world_a.staff, "analytics:export", kwargs={"table": "calls"})
    assert response.status_code == 200 and response["Content-Type"] == "text/csv"
    assert "a-calls-2026-11-02-2026-11-03.csv" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows == [
        ["day", "direction", "outcome", "calls", "answered", "average_duration", "cost"],
        ["2026-11-02", "inbound", "order_placed", "2", "2", "90.0", "0.3000"],
        ["2026-11-02", "outbound", "no_answer", "1", "0", "", ""],
        ["2026-11-03", "outbound", "interested", "1", "1", "30.0", "0.0500"],
    ]


def test_bad_periods_and_tables_are_refused_with_a_reason(client, known, world_a):
    response = page(client, world_a.staff, first="2026-11-05", last="2026-11-01")
    assert response.status_code == 400 and "comes after" in response.content.decode()
    response = page(client, world_a.staff, first="not a date")
    assert response.status_code == 400
    response = page(client, world_a.staff, "analytics:export", kwargs={"table": "secrets"})
    assert response.status_code == 404 and b"choose one of" in response.content
