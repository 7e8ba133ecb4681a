"""On PostgreSQL, with many tenants' calls over two years, every analytics query for one tenant
and one month walks indexes: no sequential scan over calls, turns or events."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.db import connection

from analytics import queries
from calls.models import Agent
from voiceapp.models import Tenant

pytestmark = pytest.mark.django_db

TENANTS = 20
CALLS = 100_000  # ~200 per tenant and month: what the queries must find without a scan

BIG_TABLES = ("calls_call", "calls_turn", "calls_callevent")


def fill(tenant_ids: list[int], agent_id: int) -> None:
    """Calls over the last two years, two agent turns and one event each, in three statements."""
    ids = ",".join(map(str, tenant_ids))
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO calls_call (tenant_id, agent_id, direction, from_number, to_number,
                twilio_account_sid, stream_sid, status, status_changed_at, status_history,
                answered_at, duration_seconds, outcome, variables, recording, usage, cost,
                cost_currency, created_at, updated_at)
            SELECT (ARRAY[{ids}])[1 + mod(g, {len(tenant_ids)})], %s,
                CASE WHEN mod(g, 3) = 0 THEN 'outbound' ELSE 'inbound' END, '+14155550000',
                '+14155550101', '', '', 'completed', t, '[]',
                CASE WHEN mod(g, 4) = 0 THEN NULL ELSE t END, mod(g, 300), 'done', '{{}}', '', '{{}}',
                0.01, 'USD', t, t
            FROM generate_series(1, %s) AS g,
                LATERAL (SELECT now() - mod(g, 730) * interval '1 day' - mod(g, 1440) * interval '1 minute' AS t) AS x
            """,  # noqa: E501
            [agent_id, CALLS],
        )
        cursor.execute(
            """
            INSERT INTO calls_turn (call_id, index, speaker, text, started_at, interrupted,
                timings, latency_ms)
            SELECT c.id, i, 'agent', 'Sure.', c.created_at, false, '{}', 300 + mod(c.id, 500)
            FROM calls_call c, generate_series(0, 1) AS i
            """
        )
        cursor.execute(
            """
            INSERT INTO calls_callevent (call_id, at, kind, data)
            SELECT c.id, c.created_at,
                CASE WHEN mod(c.id, 2) = 0 THEN 'unheard' ELSE 'fallback' END,
                '{"role": "tts"}'
            FROM calls_call c
            """
        )
        for table in BIG_TABLES:
            cursor.execute(f"ANALYZE {table}")


def test_a_tenants_month_is_read_through_indexes():
    tenants = [Tenant.objects.create(name=f"T{n}", slug=f"t{n}") for n in range(TENANTS)]
    agent = Agent.objects.create(tenant=tenants[0], name="Agent")
    fill([t.pk for t in tenants], agent.pk)
    # Last month, whole: the calls of tenants[3] fall every tenth day (fill's modulo
    # arithmetic), so the current month had none on its first four days.
    last_day = date.today().replace(day=1) - timedelta(days=1)
    period = queries.Period(tenants[3], last_day.replace(day=1), last_day)

    statements: list[tuple[str, tuple]] = []

    def capture(execute, sql, params, many, context):
        statements.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        figures = queries.report(period)
    assert figures["summary"]["calls"] > 0 and figures["latency"]

    checked = 0
    with connection.cursor() as cursor:
        for sql, params in statements:
            cursor.execute("EXPLAIN " + sql, params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            for table in BIG_TABLES:
                assert f"Seq Scan on {table}" not in plan, f"{sql}\n{plan}"
            if (
                'FROM "calls_call"' in sql and '"tenant_id" =' in sql
            ):  # a tenant's calls of the period
                assert "calls_call_tenant_" in plan, plan  # the (tenant, created_at) index
                checked += 1
    assert checked >= 5  # the summary, its events, calls per day, latency, fallbacks
