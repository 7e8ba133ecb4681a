"""The outbound part of the demo (`manage.py seed_demo`): an offline reminder agent, the sample
contacts, a draft reminder campaign ready to start, and a draft morning call. Idempotent: run
again, it updates what it made and leaves a campaign that was started alone."""

from __future__ import annotations

import datetime
from pathlib import Path

from calls.models import Agent, FirstSpeaker, Provider
from campaigns.importing import import_contacts
from campaigns.models import Campaign, ContactList
from telephony.models import PhoneNumber
from voiceapp.models import Tenant

SAMPLE_CONTACTS = Path(__file__).resolve().parent / "samples" / "contacts.csv"
LIST_NAME = "Demo contacts"
REMINDER_AGENT = "Reminder caller (offline)"
MORNING_AGENT = "Morning caller (offline)"
REMINDER_CAMPAIGN = "Appointment reminders"
MORNING_CAMPAIGN = "Morning call"
TOOLS = ["record_outcome", "schedule_callback", "transfer_to_human", "do_not_call", "end_call"]
AFFIRMATIONS = """You have everything you need to make today a good day.
Small steps still move you forward.
Be as kind to yourself today as you are to others.
Today is a fresh start.
You are stronger than you think."""
OFFLINE = {
    "stt_provider": Provider.LOCAL_WHISPER,
    "llm_provider": Provider.SCRIPTED,
    "tts_provider": Provider.PIPER,
    "tts_fallback": Provider.ESPEAK,
    "tools": TOOLS,
    "outbound_first_speaker": FirstSpeaker.AGENT,
}


def seed_outbound(tenant: Tenant, caller_id: PhoneNumber) -> dict[str, object]:
    """Write the outbound demo for `tenant`, calling from `caller_id`; returns what it made."""
    reminder, _ = Agent.objects.update_or_create(
        tenant=tenant,
        name=REMINDER_AGENT,
        defaults={
            **OFFLINE,
            "greeting": "Hi {first_name}, {disclosure} I'm calling to remind you of your "
            "appointment. Is now a good time?",
            "knowledge": "appointment: Your appointment is at our shop, 12 Harbour Street.",
        },
    )
    wake, _ = Agent.objects.update_or_create(
        tenant=tenant,
        name=MORNING_AGENT,
        defaults={
            **OFFLINE,
            "greeting": "Good morning {first_name}! {disclosure} Just checking in: how are "
            "you feeling today?",
        },
    )
    report = import_contacts(tenant, LIST_NAME, SAMPLE_CONTACTS.read_bytes())
    contacts = ContactList.objects.get(tenant=tenant, name=LIST_NAME)
    common = {"agent": reminder, "contact_list": contacts, "caller_id": caller_id}
    reminders, _ = Campaign.objects.get_or_create(
        tenant=tenant,
        name=REMINDER_CAMPAIGN,
        defaults={
            **common,
            "max_concurrent_calls": 2,
            "max_attempts": 2,
            "retry_no_answer_minutes": 30,
            "outcome_fields": ["interested", "callback_time", "notes"],
            "text_after": "Thanks {first_name}, see you soon! Reply STOP to opt out.",
        },
    )
    mornings, _ = Campaign.objects.get_or_create(
        tenant=tenant,
        name=MORNING_CAMPAIGN,
        defaults={
            **common,
            "agent": wake,
            "recurrence": Campaign.Recurrence.DAILY,
            "local_time": datetime.time(8, 0),
            "weekdays": [0, 1, 2, 3, 4],
            "affirmations": AFFIRMATIONS,
            "max_attempts": 2,
            "retry_no_answer_minutes": 20,
        },
    )
    return {
        "contacts": contacts.contacts.count(),
        "bad_rows": len(report.bad),
        "reminders": reminders,
        "mornings": mornings,
    }
