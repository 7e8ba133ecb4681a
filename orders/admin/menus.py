"""Menus in the admin: a menu's page with its categories, hours, option groups and rules; items
and choices with one-click "sold out" / "back on"; option groups with their choices.

Every availability change goes through `orders.actions.set_availability`, so `menu_changed` is
sent and the agent hears it on the next question. Each admin is tenant-scoped
(TenantAdminMixin); the menu parts reach their tenant through `tenant_path`.
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme

from orders.actions import set_availability
from orders.admin.forms import (
    ChoiceForm,
    ChoiceInlineFormSet,
    ItemForm,
    MenuForm,
    OptionGroupInlineForm,
)
from orders.models import Category, Choice, ChoiceRule, Item, Menu, OpeningHours, OptionGroup
from voiceapp.tenancy import TenantInline, TenantModelAdmin

only_related = admin.RelatedOnlyFieldListFilter  # filter choices from the visible rows only


def save_availability_through_action(obj: Item | Choice, form, save: Callable[[], None]) -> None:
    """Save `obj` from `form`; a changed `available` is left to `set_availability`, the one way
    it changes (so `menu_changed` is sent)."""
    if obj.pk and "available" in form.changed_data:
        wanted = obj.available
        obj.available = form.initial.get("available", not wanted)
        save()
        set_availability(obj, wanted)
    else:
        save()


class CategoryInline(TenantInline):
    model = Category
    fields = ["name", "position"]


class OpeningHoursInline(TenantInline):
    model = OpeningHours
    fields = ["weekday", "opens", "closes"]
    verbose_name_plural = "opening hours (the shop's local time; a close before the open runs "
    verbose_name_plural += "past midnight)"


class OptionGroupInline(TenantInline):
    model = OptionGroup
    form = OptionGroupInlineForm
    fields = ["name", "min_picks", "max_picks", "position"]
    show_change_link = True  # its choices are edited on the group's page


class ChoiceRuleInline(TenantInline):
    model = ChoiceRule
    fields = ["choice", "kind", "other"]
    verbose_name_plural = "rules between choices"

    def get_formset(self, request: HttpRequest, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        if obj is not None:  # only this menu's choices (the fields are fresh for each formset)
            own = Choice.objects.filter(group__menu=obj).select_related("group")
            for name in ("choice", "other"):
                formset.form.base_fields[name].queryset = own
        return formset


@admin.register(Menu)
class MenuAdmin(TenantModelAdmin):
    form = MenuForm
    list_display = ["name", "active", "item_count", "agent_names", "max_items_per_order"]
    list_filter = ["active"]
    search_fields = ["name", "items__name"]
    readonly_fields = ["time_zone", "items_link", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["tenant", "name", "active", "currency", "max_items_per_order"]}),
        ("Ordering agents", {"fields": ["agents"]}),
        ("About", {"fields": ["time_zone", "items_link", "created_at", "updated_at"]}),
    ]

    def get_inlines(self, request: HttpRequest, obj=None):
        inlines = [CategoryInline, OpeningHoursInline, OptionGroupInline]
        # Rules pick among the menu's choices, which exist only once the menu does.
        return [*inlines, ChoiceRuleInline] if obj is not None else inlines

    def get_fieldsets(self, request: HttpRequest, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if "tenant" in self.get_exclude(request, obj):
            first = dict(fieldsets[0][1])
            first["fields"] = [f for f in first["fields"] if f != "tenant"]
            fieldsets = [(fieldsets[0][0], first), *fieldsets[1:]]
        return fieldsets

    def get_queryset(self, request: HttpRequest):
        return (
            super()
            .get_queryset(request)
            .annotate(item_total=Count("items", distinct=True))
            .prefetch_related("agents")
        )

    @admin.display(description="Items", ordering="item_total")
    def item_count(self, obj: Menu) -> int:
        return obj.item_total

    @admin.display(description="Ordering agents")
    def agent_names(self, obj: Menu) -> str:
        return ", ".join(a.name for a in obj.agents.all()) or "—"

    @admin.display(description="Time zone of the hours")
    def time_zone(self, obj: Menu) -> str:
        return obj.tenant.time_zone if obj.tenant_id else "the tenant's"

    @admin.display(description="Items")
    def items_link(self, obj: Menu) -> str:
        if not obj.pk:
            return "—"
        url = reverse("admin:orders_item_changelist") + f"?menu__id__exact={obj.pk}"
        return format_html('<a href="{}">The items of this menu</a>', url)


class AvailabilityAdmin(TenantModelAdmin):
    """Items and choices: sold out / back on in one click from the list, or as an action."""

    actions = ["mark_sold_out", "mark_back_on"]

    def get_urls(self):
        view = self.admin_site.admin_view(self.availability_view)
        name = f"{self.opts.app_label}_{self.opts.model_name}_availability"
        return [path("<path:object_id>/availability/", view, name=name), *super().get_urls()]

    def availability_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        obj = self.get_object(request, unquote(object_id))
        if obj is None or not self.has_change_permission(request, obj):
            raise Http404("No such row.")
        wanted = request.POST.get("available")
        if wanted not in ("0", "1"):
            self.message_user(request, "Say sold out or back on.", messages.ERROR)
        else:
            set_availability(obj, wanted == "1")
            state = "back on" if obj.available else "sold out"
            self.message_user(request, f"{obj} is {state}.", messages.SUCCESS)
        back = request.META.get("HTTP_REFERER", "")
        safe = url_has_allowed_host_and_scheme(
            back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
        return redirect(
            back
            if safe
            else reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist")
        )

    @admin.display(description="Sold out?")
    def availability_button(self, obj: Item | Choice) -> str:
        # A submit button of the changelist's own form (its CSRF token), posted elsewhere.
        url = reverse(
            f"admin:{self.opts.app_label}_{self.opts.model_name}_availability", args=[obj.pk]
        )
        label, value = ("Sold out", "0") if obj.available else ("Back on", "1")
        return format_html(
            '<button type="submit" class="button" name="available" value="{}" '
            'formaction="{}" formmethod="post">{}</button>',
            value,
            url,
            label,
        )

    @admin.action(description="Mark the selected as sold out")
    def mark_sold_out(self, request: HttpRequest, queryset) -> None:
        self._set(request, queryset, False)

    @admin.action(description="Mark the selected as back on")
    def mark_back_on(self, request: HttpRequest, queryset) -> None:
        self._set(request, queryset, True)

    def _set(self, request: HttpRequest, queryset, available: bool) -> None:
        changed = [obj for obj in queryset if obj.available != available]
        for obj in changed:
            set_availability(obj, available)
        state = "back on" if available else "sold out"
        self.message_user(request, f"{len(changed)} marked {state}.", messages.SUCCESS)

    def save_model(self, request: HttpRequest, obj, form, change: bool) -> None:
        save_availability_through_action(
            obj, form, lambda: super(AvailabilityAdmin, self).save_model(request, obj, form, change)
        )


@admin.register(Item)
class ItemAdmin(AvailabilityAdmin):
    form = ItemForm
    list_display = ["name", "menu", "category", "price", "available", "availability_button"]
    list_filter = [("menu", only_related), ("category", only_related), "available"]
    list_select_related = ["menu", "category"]
    search_fields = ["name", "aliases", "description"]
    fieldsets = [
        (None, {"fields": ["menu", "category", "name", "description", "price", "position"]}),
        ("Callers say", {"fields": ["aliases"]}),
        ("Now", {"fields": ["available"]}),
        ("Options", {"fields": ["option_groups"]}),
    ]


class ChoiceInline(TenantInline):
    model = Choice
    formset = ChoiceInlineFormSet
    fields = ["name", "price", "is_default", "available", "aliases", "position"]


@admin.register(OptionGroup)
class OptionGroupAdmin(TenantModelAdmin):
    list_display = ["name", "menu", "min_picks", "max_picks", "choice_names"]
    list_filter = [("menu", only_related)]
    list_select_related = ["menu"]
    search_fields = ["name", "choices__name"]
    fields = ["menu", "name", "min_picks", "max_picks", "position"]
    inlines = [ChoiceInline]

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).prefetch_related("choices")

    @admin.display(description="Choices")
    def choice_names(self, obj: OptionGroup) -> str:
        return ", ".join(c.name for c in obj.choices.all()) or "—"

    def save_formset(self, request: HttpRequest, form, formset, change: bool) -> None:
        if formset.model is not Choice:
            return super().save_formset(request, form, formset, change)
        formset.save(commit=False)  # sorts the forms into new, changed and deleted
        for choice in formset.deleted_objects:
            choice.delete()
        for choice_form in formset.saved_forms:
            choice = choice_form.instance
            save_availability_through_action(choice, choice_form, choice.save)
        formset.save_m2m()


@admin.register(Choice)
class ChoiceAdmin(AvailabilityAdmin):
    form = ChoiceForm
    list_display = ["name", "group", "menu", "price", "is_default", "available"]
    list_display += ["availability_button"]
    list_filter = [("group__menu", only_related), ("group", only_related), "available"]
    list_select_related = ["group__menu"]
    search_fields = ["name", "aliases", "group__name"]
    fields = ["group", "name", "price", "is_default", "aliases", "available", "position"]

    @admin.display(description="Menu", ordering="group__menu__name")
    def menu(self, obj: Choice) -> Menu:
        return obj.group.menu


@admin.register(ChoiceRule)
class ChoiceRuleAdmin(TenantModelAdmin):
    list_display = ["__str__", "menu"]
    list_filter = [("menu", only_related), "kind"]
    list_select_related = ["menu", "choice__group", "other__group"]
    search_fields = ["choice__name", "other__name"]
    fields = ["menu", "choice", "kind", "other"]
    autocomplete_fields = ["choice", "other"]  # searched within the tenant's choices
