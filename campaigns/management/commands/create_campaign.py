import datetime
import re

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils.dateparse import parse_datetime

from calls.models import Agent
from campaigns.management.commands._campaigns import tenant_by_slug
from campaigns.models import AnsweringMachinePolicy, CallingWindow, Campaign, ContactList
from telephony.models import PhoneNumber

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WINDOW = re.compile(r"^(\w{3})(?:-(\w{3}))?\s+(\d{1,2}:\d{2})-(\d{1,2}:\d{2})$")


def parse_window(text: str) -> list[tuple[int, datetime.time, datetime.time]]:
    """ "mon-fri 09:00-18:00" or "sat 10:00-14:00" → (weekday, starts, ends) rows."""
    match = WINDOW.match(text.strip().lower())
    if not match or match[1] not in DAYS or (match[2] and match[2] not in DAYS):
        raise CommandError(f"Bad window {text!r}: write e.g. 'mon-fri 09:00-18:00'.")
    first, last = DAYS.index(match[1]), DAYS.index(match[2] or match[1])
    try:
        starts = datetime.time.fromisoformat(match[3].zfill(5))
        ends = datetime.time.fromisoformat(match[4].zfill(5))
    except ValueError:
        raise CommandError(f"Bad time in window {text!r}.") from None
    if starts >= ends or last < first:
        raise CommandError(f"Window {text!r} ends before it starts.")
    return [(day, starts, ends) for day in range(first, last + 1)]


def parse_moment(text: str | None) -> datetime.datetime | None:
    if not text:
        return None
    moment = parse_datetime(text)
    if moment is None or moment.tzinfo is None:
        raise CommandError(f"Bad date and time {text!r}: write e.g. 2026-12-01T09:00+00:00.")
    return moment


class Command(BaseCommand):
    help = (
        "Create a draft campaign: who calls (agent, caller ID), whom (a contact list), when "
        "(windows in each contact's local time, never outside 8:00-21:00), how much at once, "
        "and the retries. Start it with start_campaign."
    )

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--tenant", required=True, help="The tenant's slug.")
        parser.add_argument("--agent", required=True, help="The agent's name.")
        parser.add_argument("--list", required=True, dest="list_name", help="The contact list.")
        parser.add_argument("--caller-id", required=True, help="One of the tenant's numbers.")
        parser.add_argument(
            "--window",
            action="append",
            help="'mon-fri 09:00-18:00' (repeatable; default that one).",
        )
        parser.add_argument("--starts", help="ISO date and time with offset (default now).")
        parser.add_argument("--ends", help="ISO date and time with offset (default none).")
        parser.add_argument("--max-concurrent", type=int, default=2)
        parser.add_argument("--max-attempts", type=int, default=3)
        parser.add_argument("--retry-no-answer", type=int, default=60, help="Minutes.")
        parser.add_argument("--retry-busy", type=int, default=15, help="Minutes.")
        parser.add_argument("--retry-failed", type=int, default=30, help="Minutes.")
        parser.add_argument("--retry-voicemail", type=int, default=240, help="Minutes.")
        parser.add_argument("--ring-seconds", type=int, default=25)
        parser.add_argument("--machine", choices=AnsweringMachinePolicy.values, default="hang_up")
        parser.add_argument("--voicemail", default="", help="The message a machine is left.")
        parser.add_argument(
            "--no-disclosure",
            action="store_true",
            help="Do not require the greeting to say that the call is automated.",
        )

    def handle(self, *args, **o):
        tenant = tenant_by_slug(o["tenant"])
        agent = Agent.objects.filter(tenant=tenant, name=o["agent"]).first()
        contact_list = ContactList.objects.filter(tenant=tenant, name=o["list_name"]).first()
        number = PhoneNumber.objects.filter(tenant=tenant, number=o["caller_id"]).first()
        for label, found, value in [
            ("agent", agent, o["agent"]),
            ("contact list", contact_list, o["list_name"]),
            ("number", number, o["caller_id"]),
        ]:
            if found is None:
                raise CommandError(f"{tenant.slug} has no {label} {value!r}.")
        if Campaign.objects.filter(tenant=tenant, name=o["name"]).exists():
            raise CommandError(f"{tenant.slug} already has a campaign {o['name']!r}.")
        windows = [w for text in o["window"] or ["mon-fri 09:00-18:00"] for w in parse_window(text)]
        campaign = Campaign(
            tenant=tenant,
            name=o["name"],
            agent=agent,
            contact_list=contact_list,
            caller_id=number,
            max_concurrent_calls=o["max_concurrent"],
            max_attempts=o["max_attempts"],
            retry_no_answer_minutes=o["retry_no_answer"],
            retry_busy_minutes=o["retry_busy"],
            retry_failed_minutes=o["retry_failed"],
            retry_voicemail_minutes=o["retry_voicemail"],
            ring_seconds=o["ring_seconds"],
            machine_policy=o["machine"],
            voicemail_template=o["voicemail"],
            disclose_automation=not o["no_disclosure"],
        )
        if o["starts"]:
            campaign.starts_at = parse_moment(o["starts"])
        campaign.ends_at = parse_moment(o["ends"])
        try:
            campaign.full_clean()
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        with transaction.atomic():
            campaign.save()
            CallingWindow.objects.bulk_create(
                CallingWindow(campaign=campaign, weekday=d, starts=s, ends=e) for d, s, e in windows
            )
        self.stdout.write(
            f"Campaign {campaign.name} created (draft, {len(windows)} windows). "
            f"Start it: manage.py start_campaign {campaign.name!r} --tenant {tenant.slug}"
        )
