"""A running campaign with one contact and one answered call, built for a tenant of the shared
World fixture; and the pieces the in-call tests share (a fake Twilio, rq jobs run here)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from unittest import mock

import pytest
from asgiref.sync import async_to_sync
from django.utils import timezone

from calls.models import Call, CallStatus, Turn
from calls.tools import ToolContext, ToolResult, registry
from campaigns.models import Attempt, AttemptStatus, Campaign, CampaignStatus, Contact, ContactList
from telephony.tests.fake_twilio import FakeTwilioRest, serving
from telephony.tests.test_texts import empty_the_queues, messages, run_jobs

__all__ = ["fake_twilio_fixture", "messages", "run_jobs", "twilio_fixture"]

CONTACT_PHONE = "+12125550123"  # New York: one time zone for the number


@dataclass
class CampaignCall:
    campaign: Campaign
    contact: Contact
    attempt: Attempt
    call: Call

    def context(self, tenant_id: int | None = None) -> ToolContext:
        return ToolContext(
            call_id=self.call.pk,
            tenant_id=tenant_id or self.campaign.tenant_id,
            agent_id=self.campaign.agent_id,
            caller=self.contact.phone,
            direction="outbound",
        )


def build_campaign_call(world, *, phone: str = CONTACT_PHONE, **campaign_fields) -> CampaignCall:
    tenant = world.tenant
    contact = Contact.objects.create(
        tenant=tenant, phone=phone, name="Ada Lovelace", variables={"product": "solar panels"}
    )
    contacts = ContactList.objects.create(tenant=tenant, name=f"Leads {tenant.slug}")
    contacts.contacts.add(contact)
    campaign = Campaign.objects.create(
        tenant=tenant,
        name=f"Solar {tenant.slug}",
        agent=world.agent,
        contact_list=contacts,
        caller_id=world.number,
        status=CampaignStatus.RUNNING,
        **campaign_fields,
    )
    answered = timezone.now() - datetime.timedelta(minutes=2)
    call = Call.objects.create(
        tenant=tenant,
        agent=world.agent,
        direction=Call.Direction.OUTBOUND,
        from_number=world.number.number,
        to_number=phone,
        twilio_call_sid="CA" + f"{tenant.slug}{contact.pk}".rjust(32, "7"),
        twilio_account_sid=world.account.account_sid,
        status=CallStatus.IN_PROGRESS,
        answered_at=answered,
        variables={"first_name": "Ada"},
    )
    attempt = Attempt.objects.create(
        campaign=campaign,
        contact=contact,
        status=AttemptStatus.IN_PROGRESS,
        call=call,
        dialed_at=answered,
        answered_by="human",
    )
    return CampaignCall(campaign, contact, attempt, call)


def run_tool(name: str, ctx: ToolContext, **arguments) -> ToolResult:
    """Run a registered tool as the engine would (schema checked), from sync test code: its
    database work runs in this thread, inside the test's transaction (which channels' habit
    of closing old connections around each database call would otherwise close)."""
    with mock.patch("channels.db.close_old_connections"):
        return async_to_sync(registry.get(name).run)(ctx, arguments)


def say(call: Call, *lines: tuple[str, str]) -> None:
    """Write the call's transcript: (speaker, text) pairs."""
    start = call.turns.count()
    for index, (speaker, text) in enumerate(lines, start=start):
        Turn.objects.create(
            call=call,
            index=index,
            speaker=speaker,
            text=text,
            started_at=timezone.now(),
            ended_at=timezone.now(),
        )


@pytest.fixture(scope="module", name="fake_twilio")
def fake_twilio_fixture():
    with serving() as url:
        yield url


@pytest.fixture(name="twilio")
def twilio_fixture(settings, fake_twilio):
    """The fake Twilio's requests; every queue starts empty."""
    empty_the_queues()
    settings.TWILIO_API_BASE_URL = fake_twilio
    FakeTwilioRest.requests.clear()
    FakeTwilioRest.replies.clear()
    return FakeTwilioRest.requests
