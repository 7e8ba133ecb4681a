"""Create (idempotently) a demo tenant: a staff login, a Twilio account and number, agents."""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from calls.models import Agent, Provider
from campaigns.demo import LIST_NAME, seed_outbound
from orders.demo import BOBA_AGENT, BOBA_NUMBER, seed_boba_shop
from telephony.models import PhoneNumber, TwilioAccount
from voiceapp.models import Membership, Tenant

DEMO_ACCOUNT_SID = "AC" + "d" * 32
DEMO_NUMBER = "+15005550006"
KNOWLEDGE = """hours: We are open from 7 in the morning to 7 in the evening, every day.
address: We are at 12 Harbour Street, next to the library.
parking: There is free parking behind the shop.
wifi: Yes, we have free wifi for customers."""


class Command(BaseCommand):
    help = "Create the demo tenant, its staff login, Twilio account, number and agents."

    def add_arguments(self, parser):
        parser.add_argument("--password", help="The staff password (default: a new random one).")
        parser.add_argument(
            "--auth-token", default="demo-auth-token", help="The demo account's auth token."
        )

    @transaction.atomic
    def handle(self, *args, password: str | None = None, auth_token: str = "", **options):
        tenant, _ = Tenant.objects.update_or_create(
            slug="demo-coffee", defaults={"name": "Demo Coffee", "time_zone": "America/New_York"}
        )
        user, _ = get_user_model().objects.get_or_create(
            username="demo", defaults={"email": "demo@example.com"}
        )
        password = password or secrets.token_urlsafe(9)
        user.is_staff = True
        user.set_password(password)
        user.save()
        Membership.objects.update_or_create(
            user=user, tenant=tenant, defaults={"role": Membership.Role.OWNER}
        )
        account, _ = TwilioAccount.objects.update_or_create(
            account_sid=DEMO_ACCOUNT_SID,
            defaults={"tenant": tenant, "name": "Demo account", "auth_token": auth_token},
        )
        offline, _ = Agent.objects.update_or_create(
            tenant=tenant,
            name="Front desk (offline)",
            defaults={
                "greeting": "Hello, thanks for calling Demo Coffee! How can I help you?",
                "knowledge": KNOWLEDGE,
                "stt_provider": Provider.LOCAL_WHISPER,
                "llm_provider": Provider.SCRIPTED,
                "tts_provider": Provider.PIPER,
                "tts_fallback": Provider.ESPEAK,
                "tools": ["lookup_info", "current_time", "end_call"],
            },
        )
        Agent.objects.update_or_create(
            tenant=tenant,
            name="Front desk (cloud)",
            defaults={
                "greeting": "Hello, thanks for calling Demo Coffee! How can I help you?",
                "knowledge": KNOWLEDGE,
                "stt_provider": Provider.DEEPGRAM,
                "stt_fallback": Provider.LOCAL_WHISPER,
                "llm_provider": Provider.GROQ,
                "llm_fallback": Provider.SCRIPTED,
                "tts_provider": Provider.ELEVENLABS,
                "tts_fallback": Provider.PIPER,
                "tools": ["lookup_info", "current_time", "end_call"],
            },
        )
        shop_line, _ = PhoneNumber.objects.update_or_create(
            number=DEMO_NUMBER,
            defaults={
                "tenant": tenant,
                "account": account,
                "agent": offline,
                "friendly_name": "Shop line",
            },
        )
        seed_boba_shop(tenant, account)
        outbound = seed_outbound(tenant, shop_line)
        self.stdout.write(
            self.style.SUCCESS("Demo data ready.")
            + f"\n  tenant:   {tenant.name}\n  login:    demo / {password}\n"
            f"  number:   {DEMO_NUMBER} (answered by '{offline.name}')\n"
            f"  boba:     {BOBA_NUMBER} (answered by '{BOBA_AGENT}': phone orders)\n"
            f"  Twilio:   {DEMO_ACCOUNT_SID} (auth token '{auth_token}', for simulate_call)\n"
            f"  outbound: {outbound['contacts']} contacts in '{LIST_NAME}'; draft campaigns "
            f"'{outbound['reminders']}' and '{outbound['mornings']}'"
        )
