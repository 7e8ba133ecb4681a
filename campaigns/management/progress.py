"""What the import commands share: the tenant, the file, and tqdm's progress bar."""

from __future__ import annotations

from django.core.management.base import CommandError, OutputWrapper
from tqdm import tqdm

from campaigns.importing import Progress
from voiceapp.models import Tenant


def tenant_by_slug(slug: str) -> Tenant:
    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is None:
        raise CommandError(f"No tenant with the slug {slug!r}.")
    return tenant


def read_file(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise CommandError(f"Cannot read {path}: {exc.strerror or exc}.") from None


class _Unended:
    """The command's stream without the newline Django adds to each write: tqdm redraws its
    bar in place with carriage returns."""

    def __init__(self, out: OutputWrapper) -> None:
        self.out = out

    def write(self, text: str) -> None:
        self.out.write(text, ending="")

    def flush(self) -> None:
        self.out.flush()


def terminal_progress(out: OutputWrapper) -> Progress:
    def bar(label: str, total: int) -> tqdm:
        return tqdm(total=total, desc=label, unit=" rows", file=_Unended(out), mininterval=0.2)

    return bar
