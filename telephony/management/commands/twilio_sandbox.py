"""A local carrier for development: calls we place are answered by a simulated person over the
media stream, texts are recorded and printed. Point the project at it with
TWILIO_API_BASE_URL=http://127.0.0.1:<port> (no Twilio account, no network)."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.management.base import BaseCommand

from telephony.models import TwilioAccount
from telephony.sandbox import Callee, Sandbox


class Command(BaseCommand):
    help = "Run a local stand-in for Twilio that answers outbound calls and records texts."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8765, help="Where the sandbox listens.")
        parser.add_argument(
            "--server", default="http://127.0.0.1:8000", help="Where the project listens."
        )
        parser.add_argument(
            "--say",
            action="append",
            default=[],
            help="A line each callee says (repeat for more; default: Yes, I'm interested.)",
        )

    def handle(self, *args, port, server, say, **options):
        tokens = dict(TwilioAccount.objects.values_list("account_sid", "auth_token"))
        sandbox = Sandbox(
            server=server,
            public_base_url=settings.PUBLIC_BASE_URL,
            tokens=tokens,
            default=Callee(lines=say or ["Yes, I'm interested."]),
        )
        url = sandbox.start(port)
        self.stdout.write(
            f"Twilio sandbox on {url}: run the project with TWILIO_API_BASE_URL={url}"
        )
        seen_calls = seen_texts = 0
        try:
            while True:
                for text in sandbox.texts[seen_texts:]:
                    self.stdout.write(f"text to {text.get('To')}: {text.get('Body')}")
                for call in sandbox.calls[seen_calls:]:
                    self.stdout.write(f"call to {call.form.get('To')} ({call.sid})")
                seen_texts, seen_calls = len(sandbox.texts), len(sandbox.calls)
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            sandbox.stop()
