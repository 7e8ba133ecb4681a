"""A caller in the terminal: phone the running server as Twilio would and talk to the agent."""

from __future__ import annotations

import asyncio
import os
from urllib.parse import urlsplit

from django.core.management.base import BaseCommand, CommandError

from calls.models import Turn
from telephony.models import PhoneNumber, TwilioAccount
from telephony.simulator import (
    CallRefused,
    SimulatedCaller,
    speech,
    transcribe_replies,
    wav_to_mulaw,
)


def signing_origin(public_url: str, url: str) -> str:
    """The origin Twilio would have signed with: the one given, the server's PUBLIC_BASE_URL
    when this environment sets it, else the origin of the URL being called."""
    if public_url or os.environ.get("PUBLIC_BASE_URL"):
        return (public_url or os.environ["PUBLIC_BASE_URL"]).rstrip("/")
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class Command(BaseCommand):
    help = (
        "Call a running server as Twilio would (signed voice webhook, then the signed media "
        "stream), say each --say line (spoken by the local voice) or --wav file in real time, "
        "and print what the agent says back with each turn's latency."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--url", default="http://127.0.0.1:8000", help="Where the server listens."
        )
        parser.add_argument(
            "--public-url",
            default="",
            help="The origin the server signs webhooks with (default: PUBLIC_BASE_URL when it "
            "is set, else the origin of --url).",
        )
        parser.add_argument(
            "--to", default="", help="The number called (default: the first number)."
        )
        parser.add_argument("--from", dest="from_number", default="+14155550123")
        parser.add_argument(
            "--account-sid", default="", help="Default: the called number's account."
        )
        parser.add_argument(
            "--auth-token", default="", help="Default: the called number's account's token."
        )
        parser.add_argument("--say", action="append", default=[], help="A line the caller says.")
        parser.add_argument(
            "--wav", action="append", default=[], help="A WAV file the caller plays."
        )
        parser.add_argument(
            "--barge-in",
            type=float,
            default=None,
            help="Say the first line this many seconds into the greeting.",
        )
        parser.add_argument(
            "--gap",
            type=int,
            default=300,
            metavar="MS",
            help="Say each line this many milliseconds after the agent stops (default 300, as "
            "people do).",
        )
        parser.add_argument(
            "--no-transcribe", action="store_true", help="Do not transcribe the agent."
        )

    def handle(self, *args, **options):
        number = self._number(options["to"])
        account = number.account if number else None
        account_sid = options["account_sid"] or (account.account_sid if account else "")
        token = options["auth_token"]
        if not token:
            account = account or TwilioAccount.objects.filter(account_sid=account_sid).first()
            token = account.auth_token if account else ""
        if not account_sid or not token:
            raise CommandError(
                "No account: pass --account-sid and --auth-token, or --to a number in the database."
            )
        lines = [(text, speech(text)) for text in options["say"]]
        lines += [(path, wav_to_mulaw(path)) for path in options["wav"]]
        caller = SimulatedCaller(
            server=options["url"],
            public_base_url=signing_origin(options["public_url"], options["url"]),
            auth_token=token,
            account_sid=account_sid,
            to_number=options["to"] or (number.number if number else ""),
            from_number=options["from_number"],
            gap=options["gap"] / 1000,
        )
        try:
            report = asyncio.run(self._call(caller, [audio for _, audio in lines], options))
        except CallRefused as exc:
            raise CommandError(str(exc)) from exc
        except OSError as exc:
            raise CommandError(f"cannot reach {options['url']}: {exc}") from exc
        self.stdout.write(f"call {report.call_sid}")
        self.stdout.write(f"  agent: {report.greeting.text or '(audio, not transcribed)'}")
        for (said, _), reply in zip(lines, report.replies, strict=False):
            latency = f"{reply.latency * 1000:.0f} ms" if reply.latency is not None else "no reply"
            self.stdout.write(f"caller: {said}")
            self.stdout.write(f"  agent [{latency}]: {reply.text or '(audio)'}")
        ended = "the agent hung up" if report.closed_by_server else "the caller hung up"
        self.stdout.write(
            f"{ended}; marks echoed {report.marks_echoed}, clears {report.clears}, "
            f"late frames {report.late_frames}"
        )
        self._server_timings(report.call_sid)

    @staticmethod
    def _number(to: str) -> PhoneNumber | None:
        numbers = PhoneNumber.objects.select_related("account")
        return numbers.filter(number=to).first() if to else numbers.order_by("pk").first()

    async def _call(self, caller: SimulatedCaller, lines: list[bytes], options):
        report = await caller.run(lines, barge_in_after=options["barge_in"])
        if not options["no_transcribe"]:
            await transcribe_replies(report)
        return report

    def _server_timings(self, call_sid: str) -> None:
        """The server's own per-turn timings, when it shares this database."""
        turns = Turn.objects.filter(call__twilio_call_sid=call_sid, speaker="agent").exclude(
            latency_ms=None
        )
        for turn in turns.order_by("index"):
            parts = ", ".join(turn.timing_parts())
            self.stdout.write(f"  server turn {turn.index}: {parts}")
