"""The analytics page under the admin and its CSV export: a tenant's figures for a period."""

from __future__ import annotations

import csv
from datetime import timedelta

from django import forms
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from analytics import queries
from analytics.pricing import pricing_for
from voiceapp.models import Tenant
from voiceapp.tenancy import tenant_ids

DEFAULT_DAYS = 30
MAX_DAYS = 366


class PeriodForm(forms.Form):
    tenant = forms.ModelChoiceField(queryset=Tenant.objects.none(), required=False)
    first = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    last = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, data, *, user) -> None:
        super().__init__(data)
        allowed = tenant_ids(user)
        tenants = Tenant.objects.filter(active=True).order_by("name")
        # A staff member chooses among their tenants only: another tenant's id is refused.
        self.fields["tenant"].queryset = (
            tenants if allowed is None else tenants.filter(pk__in=allowed)
        )

    def clean(self):
        data = super().clean()
        tenant = data.get("tenant") or self.fields["tenant"].queryset.first()
        if tenant is None:
            raise forms.ValidationError("You belong to no tenant: there are no figures to show.")
        today = timezone.now().astimezone(queries.ZoneInfo(tenant.time_zone)).date()
        last = data.get("last") or today
        first = data.get("first") or last - timedelta(days=DEFAULT_DAYS - 1)
        if first > last:
            raise forms.ValidationError("The first day comes after the last.")
        if (last - first).days >= MAX_DAYS:
            raise forms.ValidationError(f"A period is at most {MAX_DAYS} days.")
        data["period"] = queries.Period(tenant, first, last)
        return data


def _period(request: HttpRequest) -> tuple[PeriodForm, queries.Period | None]:
    form = PeriodForm(request.GET, user=request.user)
    return form, (form.cleaned_data["period"] if form.is_valid() else None)


def dashboard(request: HttpRequest) -> TemplateResponse:
    form, period = _period(request)
    figures = queries.report(period) if period else None
    context = {
        **admin.site.each_context(request),
        "title": "Analytics",
        "form": form,
        "period": period,
        "figures": figures,
        "charts": queries.chart_data(period, figures) if period else None,
        "currency": pricing_for(period.tenant.pk).currency_code if period else "",
        "query": request.GET.urlencode(),
    }
    return TemplateResponse(
        request, "analytics/dashboard.html", context, status=200 if period else 400
    )


# Each export is one table of the page, as rows of plain values.
EXPORTS = {
    "calls": (
        ["day", "direction", "outcome", "calls", "answered", "average_duration", "cost"],
        "calls_per_day",
    ),
    "latency": (["llm", "tts", "turns", "p50", "p95"], "latency"),
    "orders": (["day", "orders", "revenue"], "orders_per_day"),
    "funnels": (["campaign_name", "dialed", "answered", "human", "outcome"], "funnels"),
    "fallbacks": (["role", "count"], "fallbacks"),
}


def export_csv(request: HttpRequest, table: str) -> HttpResponse:
    if table not in EXPORTS:
        return HttpResponse(
            f"No such table; choose one of {', '.join(EXPORTS)}.",
            status=404,
            content_type="text/plain",
        )
    form, period = _period(request)
    if period is None:
        return HttpResponse(form.errors.as_text(), status=400, content_type="text/plain")
    columns, key = EXPORTS[table]
    rows = queries.report(period)[key]
    response = HttpResponse(content_type="text/csv")
    name = f"{period.tenant.slug}-{table}-{period.first}-{period.last}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    writer = csv.writer(response)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row[c] for c in columns])
    return response
