"""The System health admin page and the failing-provider banner, per tenant."""

from __future__ import annotations

import pytest
import redis
from django.conf import settings
from django.urls import reverse
from rq import Queue, SimpleWorker

from calls.providers.resilience import breaker_for, reset_breakers
from health.jobs import check_providers
from health.models import ProviderStatus

PAGE = reverse("admin:health_providerstatus_changelist")


@pytest.fixture
def a_failing(twilio_up, people, world_a):
    """Checked twice: Shop A's Twilio account and Groq fail the second time."""
    check_providers()
    twilio_up.twilio_tokens.pop(world_a.account.account_sid)
    twilio_up.down.add("groq")
    check_providers()
    return twilio_up


def keys(response) -> set[str]:
    return {row.status.key for row in response.context["health"].providers}


def test_an_owner_sees_their_accounts_checks_and_history(client, a_failing, people, world_a):
    client.force_login(people["owner_a"])
    response = client.get(PAGE)
    assert response.status_code == 200
    assert keys(response) == {f"twilio:{world_a.account.account_sid}"}
    (row,) = response.context["health"].providers
    assert [check.ok for check in row.history] == [False, True]  # latest first
    html = response.content.decode()
    assert "failing since" in html and "401" in html and " ms" in html
    # The platform's internals are the operators': no breakers, queues or workers.
    assert 'id="breakers"' not in html and 'id="workers"' not in html


def test_another_tenants_owner_sees_only_theirs(client, a_failing, people, world_a, world_b):
    client.force_login(people["owner_b"])
    response = client.get(PAGE)
    assert keys(response) == {f"twilio:{world_b.account.account_sid}"}
    assert world_a.account.account_sid not in response.content.decode()
    theirs = ProviderStatus.objects.get(key=f"twilio:{world_a.account.account_sid}")
    change = reverse("admin:health_providerstatus_change", args=[theirs.pk])
    assert client.get(change).status_code == 302  # the admin's "does not exist"
    platform = ProviderStatus.objects.get(key="groq")
    assert client.get(reverse("admin:health_providerstatus_change", args=[platform.pk])).url == (
        reverse("admin:index")
    )


def test_a_tenants_staff_member_sees_the_tenants_checks_too(client, a_failing, people, world_a):
    client.force_login(people["member_a"])
    assert keys(client.get(PAGE)) == {f"twilio:{world_a.account.account_sid}"}


def test_a_superuser_sees_everything_with_breakers_queues_and_workers(
    client, a_failing, people, world_a, world_b
):
    reset_breakers()
    breaker_for("groq").record_failure()
    client.force_login(people["root"])
    response = client.get(PAGE)
    assert keys(response) == {
        "deepgram",
        "elevenlabs",
        "groq",
        "openai",
        f"twilio:{world_a.account.account_sid}",
        f"twilio:{world_b.account.account_sid}",
    }
    page = response.context["health"]
    assert [(b.name, b.state, b.failures) for b in page.breakers] == [("groq", "closed", 1)]
    assert {q.name for q in page.queues} == {"default", "telephony"}
    html = response.content.decode()
    assert "Circuit breakers of this web process" in html and 'id="workers"' in html
    reset_breakers()


def test_an_open_breaker_says_when_it_closes(client, people):
    reset_breakers()
    breaker = breaker_for("deepgram")
    for _ in range(breaker.threshold):
        breaker.record_failure()
    client.force_login(people["root"])
    (row,) = client.get(PAGE).context["health"].breakers
    assert row.state == "open" and 0 < row.reopens_in <= 30
    reset_breakers()


def test_staff_outside_any_tenant_are_refused(client, a_failing, outsider):
    client.force_login(outsider)
    assert client.get(PAGE).status_code == 403


def test_the_admin_index_links_to_the_page(client, people):
    client.force_login(people["owner_a"])
    html = client.get(reverse("admin:index")).content.decode()
    assert PAGE in html and "System health" in html


def test_the_page_is_read_only(client, a_failing, people, world_a):
    from health.models import ProviderStatus

    client.force_login(people["root"])
    status = ProviderStatus.objects.get(key="groq")
    assert client.get(reverse("admin:health_providerstatus_add")).status_code == 403
    client.post(reverse("admin:health_providerstatus_delete", args=[status.pk]), {"post": "yes"})
    assert ProviderStatus.objects.filter(pk=status.pk).exists()


def banner(client, user) -> str:
    client.force_login(user)
    html = client.get(reverse("admin:index")).content.decode()
    start = html.find("health-banner")
    return "" if start < 0 else html[start : html.find("</ul>", start)]


def test_the_banner_shows_a_failing_provider_to_its_tenants_members(
    client, a_failing, people, world_a
):
    account = world_a.account.account_sid
    assert account in banner(client, people["owner_a"])
    assert account in banner(client, people["member_a"])
    assert "Groq" not in banner(client, people["owner_a"])  # platform: superusers only
    assert banner(client, people["owner_b"]) == ""
    root = banner(client, people["root"])
    assert account in root and "Groq is failing" in root


def test_the_banner_is_on_every_admin_page_and_goes_with_the_recovery(
    client, a_failing, people, world_a
):
    client.force_login(people["owner_a"])
    calls = client.get(reverse("admin:calls_call_changelist")).content.decode()
    assert "health-banner" in calls and world_a.account.account_sid in calls

    a_failing.twilio_tokens[world_a.account.account_sid] = world_a.account.auth_token
    check_providers()
    assert banner(client, people["owner_a"]) == ""


def test_an_owner_may_ask_for_a_check_now(
    client, twilio_up, people, world_a, django_capture_on_commit_callbacks
):
    connection = redis.Redis.from_url(settings.REDIS_URL)
    queue = Queue("default", connection=connection)
    queue.empty()
    client.force_login(people["owner_a"])
    assert 'id="check-now"' in client.get(PAGE).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(PAGE)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(PAGE)  # a second click while the first is waiting adds nothing
    assert response.status_code == 302 and response.url == PAGE
    assert queue.job_ids == ["provider-health-now"]
    SimpleWorker([queue], connection=connection).work(burst=True)
    key = f"twilio:{world_a.account.account_sid}"
    assert ProviderStatus.objects.get(key=key).ok is True


def test_a_staff_member_may_not_ask_for_a_check(client, people, django_capture_on_commit_callbacks):
    client.force_login(people["member_a"])
    assert 'id="check-now"' not in client.get(PAGE).content.decode()
    with django_capture_on_commit_callbacks() as callbacks:
        assert client.post(PAGE).status_code == 403
    assert callbacks == []


def test_the_page_holds_the_latest_checks_in_a_fixed_number_of_queries(
    client, people, django_assert_max_num_queries
):
    from health import actions, page
    from health.checks import Result, Target

    for n in range(page.HISTORY_LENGTH + 5):
        for key in ("groq", "deepgram", "openai"):
            actions.record_check(Result(Target(key, key, lambda t: None), n % 2 == 0, n))
    client.force_login(people["root"])
    with django_assert_max_num_queries(12):
        response = client.get(PAGE)
    rows = response.context["health"].providers
    assert [len(row.history) for row in rows] == [page.HISTORY_LENGTH] * 3
    latest = page.HISTORY_LENGTH + 4
    assert all(row.history[0].latency_ms == latest for row in rows)
