"""Contacts, contact lists and do-not-call numbers in the admin, with CSV import pages.

Each admin is tenant-scoped (TenantAdminMixin). The global do-not-call list (tenant empty) is a
superuser's: staff neither see nor add global entries (a national list is not theirs to read),
though every dial of theirs honours it (campaigns.do_not_call).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from campaigns import do_not_call
from campaigns.contacts import (
    ContactError,
    check_time_zone,
    check_variables,
    normalize_phone,
    time_zone_for_number,
)
from campaigns.importing import ImportRefused, import_contacts, import_do_not_call
from campaigns.models import Contact, ContactList, DoNotCall
from voiceapp.models import Tenant
from voiceapp.tenancy import TenantModelAdmin, default_tenant, scope, tenant_ids

MAX_MESSAGES = 50  # bad rows listed one message each, then a count


def _tenant_of(form: forms.ModelForm):
    """The tenant the row will belong to: the form's choice, else the one set by the admin."""
    if "tenant" in form.fields:
        return form.cleaned_data.get("tenant")
    return form.instance.tenant if form.instance.tenant_id else None


class PhoneFormMixin:
    def clean_phone(self) -> str:
        try:
            return normalize_phone(self.cleaned_data.get("phone", ""))
        except ContactError as exc:
            raise forms.ValidationError(str(exc)) from None


# ---------------------------------------------------------------- contacts


class ContactForm(PhoneFormMixin, forms.ModelForm):
    class Meta:
        model = Contact
        fields = ["tenant", "phone", "name", "time_zone", "variables", "opted_out"]

    def clean_time_zone(self) -> str:
        value = self.cleaned_data.get("time_zone", "")
        try:
            return check_time_zone(value) if value else ""
        except ContactError as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean_variables(self):
        try:
            return check_variables(self.cleaned_data.get("variables") or {})
        except ContactError as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean(self):
        data = super().clean()
        phone, tenant = data.get("phone"), _tenant_of(self)
        if phone and tenant:
            # The unique constraint is not checked by the form when the tenant is not one of
            # its fields (a staff member of one tenant), so it is checked here.
            twin = Contact.objects.filter(tenant=tenant, phone=phone).exclude(pk=self.instance.pk)
            if twin.exists():
                self.add_error("phone", "The tenant has a contact with this number already.")
        if phone and not data.get("time_zone"):
            data["time_zone"] = time_zone_for_number(phone)
        return data


class ImportFileForm(forms.Form):
    file = forms.FileField(help_text="A CSV file (UTF-8) with a header row.")

    def __init__(self, *args, tenants=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if tenants is not None:
            self.fields["tenant"] = forms.ModelChoiceField(tenants, required=True)


class ContactImportForm(ImportFileForm):
    list_name = forms.CharField(
        max_length=120, label="List", help_text="An existing list of the tenant, or a new one."
    )


@admin.register(Contact)
class ContactAdmin(TenantModelAdmin):
    form = ContactForm
    list_display = ["__str__", "phone", "time_zone", "opted_out", "list_names", "updated_at"]
    list_filter = ["opted_out", ("lists", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name", "phone"]
    readonly_fields = ["opted_out_at", "created_at", "updated_at"]

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).prefetch_related("lists")

    @admin.display(description="Lists")
    def list_names(self, obj: Contact) -> str:
        return ", ".join(lst.name for lst in obj.lists.all()) or "—"

    def save_model(self, request: HttpRequest, obj: Contact, form, change: bool) -> None:
        if "opted_out" in form.changed_data:
            obj.opted_out_at = timezone.now() if obj.opted_out else None
        super().save_model(request, obj, form, change)


class ContactListForm(forms.ModelForm):
    class Meta:
        model = ContactList
        fields = ["tenant", "name", "contacts"]

    def clean(self):
        data = super().clean()
        tenant = _tenant_of(self)
        strangers = [c for c in data.get("contacts") or [] if tenant and c.tenant_id != tenant.pk]
        if strangers:
            self.add_error("contacts", "Contacts of another tenant cannot be on this list.")
        return data


class ImportPageMixin:
    """A changelist page `import/` that takes a CSV file: tenant-scoped, shown as messages."""

    import_form = ImportFileForm
    import_title = "Import from CSV"

    def get_urls(self):
        view = self.admin_site.admin_view(self.import_view)
        name = f"{self.opts.app_label}_{self.opts.model_name}_import"
        return [path("import/", view, name=name), *super().get_urls()]

    def import_tenants(self, request: HttpRequest):
        """The tenant choices, or None when the user has exactly one (it is used)."""
        if default_tenant(request.user) is not None:
            return None
        return scope(Tenant.objects.filter(active=True), request.user)

    def import_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        tenants = self.import_tenants(request)
        initial = self.import_initial(request)
        if request.method == "POST":
            form = self.make_import_form(request, request.POST, request.FILES, tenants=tenants)
            if form.is_valid():
                data = form.cleaned_data
                tenant = data["tenant"] if tenants is not None else default_tenant(request.user)
                try:
                    report = self.run_import(tenant, data, data["file"].read())
                except ImportRefused as exc:
                    self.message_user(request, f"Nothing imported: {exc}", messages.ERROR)
                else:
                    self.report(request, report)
                    return redirect(
                        reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist")
                    )
        else:
            form = self.make_import_form(request, initial=initial, tenants=tenants)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": self.import_title,
            "form": form,
        }
        return TemplateResponse(request, "admin/campaigns/import.html", context)

    def make_import_form(self, request: HttpRequest, *args, **kwargs) -> forms.Form:
        return self.import_form(*args, **kwargs)

    def import_initial(self, request: HttpRequest) -> dict:
        return {}

    def run_import(self, tenant, data: dict, content: bytes):
        raise NotImplementedError

    def report(self, request: HttpRequest, report) -> None:
        first, *rest = report.summary()
        self.message_user(request, first, messages.SUCCESS)
        shown = 0
        for line in rest:
            if line.startswith("  line"):
                shown += 1
                if shown > MAX_MESSAGES:
                    continue
            self.message_user(request, line.strip(), messages.WARNING)
        if shown > MAX_MESSAGES:
            self.message_user(
                request,
                f"… and {shown - MAX_MESSAGES} more bad rows (the command lists them all).",
                messages.WARNING,
            )


@admin.register(ContactList)
class ContactListAdmin(ImportPageMixin, TenantModelAdmin):
    form = ContactListForm
    import_form = ContactImportForm
    import_title = "Import contacts from CSV"
    list_display = ["name", "contact_count", "import_link", "created_at"]
    search_fields = ["name"]
    autocomplete_fields = ["contacts"]
    change_form_template = "admin/campaigns/contactlist/change_form.html"
    change_list_template = "admin/campaigns/import_change_list.html"

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).annotate(contact_total=Count("contacts"))

    @admin.display(description="Contacts", ordering="contact_total")
    def contact_count(self, obj: ContactList) -> int:
        return obj.contact_total

    @admin.display(description="Import")
    def import_link(self, obj: ContactList) -> str:
        url = reverse("admin:campaigns_contactlist_import") + f"?list={obj.pk}"
        return format_html('<a href="{}">Import contacts from CSV</a>', url)

    def import_initial(self, request: HttpRequest) -> dict:
        chosen = request.GET.get("list", "")
        found = (
            self.get_queryset(request).filter(pk=unquote(chosen)).first()
            if chosen.isdigit()
            else None
        )
        return {"list_name": found.name, "tenant": found.tenant_id} if found else {}

    def run_import(self, tenant, data: dict, content: bytes):
        return import_contacts(tenant, data["list_name"], content)


# ---------------------------------------------------------------- do-not-call


class DoNotCallForm(PhoneFormMixin, forms.ModelForm):
    class Meta:
        model = DoNotCall
        fields = ["tenant", "phone", "note"]

    def clean(self):
        data = super().clean()
        phone = data.get("phone")
        if phone:
            tenant = _tenant_of(self)
            twin = DoNotCall.objects.filter(tenant=tenant, phone=phone).exclude(pk=self.instance.pk)
            if twin.exists():
                self.add_error("phone", "This number is on the list already.")
        return data


class DoNotCallImportForm(ImportFileForm):
    def __init__(self, *args, tenants=None, everyone: bool = False, **kwargs) -> None:
        super().__init__(*args, tenants=tenants, **kwargs)
        if everyone:  # a superuser: no tenant is the global list
            field = self.fields["tenant"]
            field.required = False
            field.empty_label = "Global list (every tenant)"


@admin.register(DoNotCall)
class DoNotCallAdmin(ImportPageMixin, TenantModelAdmin):
    form = DoNotCallForm
    import_form = DoNotCallImportForm
    import_title = "Import do-not-call numbers from CSV"
    list_display = ["phone", "which_list", "source", "note", "call", "created_at"]
    list_filter = ["source"]
    search_fields = ["phone", "note"]
    list_select_related = ["tenant", "call"]
    readonly_fields = ["source", "call", "created_at"]
    change_list_template = "admin/campaigns/import_change_list.html"

    @admin.display(description="List", ordering="tenant")
    def which_list(self, obj: DoNotCall) -> str:
        return str(obj.tenant) if obj.tenant_id else "Global"

    def get_form(self, request: HttpRequest, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        field = form.base_fields.get("tenant")
        if field is not None:
            if tenant_ids(request.user) is None:
                field.help_text = "Empty: the global list, honoured by every tenant."
            else:  # staff never make a global entry
                field.required = True
        return form

    def make_import_form(self, request: HttpRequest, *args, **kwargs) -> forms.Form:
        everyone = tenant_ids(request.user) is None  # a superuser may fill the global list
        return DoNotCallImportForm(*args, everyone=everyone, **kwargs)

    def run_import(self, tenant, data: dict, content: bytes):
        return import_do_not_call(tenant, content)

    def save_model(self, request: HttpRequest, obj: DoNotCall, form, change: bool) -> None:
        if not change:
            obj.source = DoNotCall.Source.ADMIN
        super().save_model(request, obj, form, change)
        if obj.tenant_id is not None:
            do_not_call.opt_out_contacts(obj.tenant_id, [obj.phone])
