"""The admin's menu forms: the checks that span rows (orders.menu_checks) on the right fields."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from orders.menu_checks import (
    check_default_count,
    check_item_parts,
    check_menu_agents,
    other_defaults,
)
from orders.models import Choice, Item, Menu, OptionGroup


class MenuForm(forms.ModelForm):
    class Meta:
        model = Menu
        fields = "__all__"  # noqa: DJ007 (the admin's fieldsets choose what is shown)
        widgets = {"agents": forms.CheckboxSelectMultiple}

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("tenant") is not None:  # a member of several tenants picks one
            self.instance.tenant = cleaned["tenant"]
        agents = cleaned.get("agents")
        if agents is not None:
            check_menu_agents(self.instance, agents)
        return cleaned


class OptionGroupInlineForm(forms.ModelForm):
    """A group edited on its menu's page: lowering its maximum below its defaults is refused."""

    class Meta:
        model = OptionGroup
        fields = ["name", "min_picks", "max_picks", "position"]

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk and cleaned.get("max_picks"):
            group = OptionGroup(name=cleaned.get("name", ""), max_picks=cleaned["max_picks"])
            try:
                check_default_count(group, other_defaults(self.instance, None))
            except ValidationError as error:
                self.add_error("max_picks", error)
        return cleaned


class ItemForm(forms.ModelForm):
    class Meta:
        model = Item
        fields = "__all__"  # noqa: DJ007 (the admin's fieldsets choose what is shown)
        widgets = {"option_groups": forms.CheckboxSelectMultiple}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The choices are already the staff member's tenants' rows (TenantAdminMixin); an item
        # on a menu is offered only that menu's categories and groups.
        if self.instance.menu_id:
            for name in ("category", "option_groups"):
                field = self.fields.get(name)
                if field is not None:
                    field.queryset = field.queryset.filter(menu_id=self.instance.menu_id)
        groups = self.fields.get("option_groups")
        if groups is not None:
            groups.queryset = groups.queryset.select_related("menu")
            groups.label_from_instance = lambda g: f"{g.name} ({g.menu.name})"

    def clean(self):
        cleaned = super().clean()
        check_item_parts(
            cleaned.get("menu"), cleaned.get("category"), cleaned.get("option_groups") or []
        )
        return cleaned


class ChoiceForm(forms.ModelForm):
    class Meta:
        model = Choice
        fields = "__all__"  # noqa: DJ007 (the admin's fieldsets choose what is shown)

    def clean(self):
        cleaned = super().clean()
        group = cleaned.get("group")
        if group is not None and cleaned.get("is_default"):
            try:
                check_default_count(group, other_defaults(group, self.instance) + 1)
            except ValidationError as error:
                self.add_error("is_default", error)
        return cleaned


class ChoiceInlineFormSet(forms.BaseInlineFormSet):
    """A group's choices on the group's page: the defaults counted across the whole set, with
    the group's maximum as just submitted."""

    def clean(self):
        super().clean()
        defaults = sum(
            1
            for form in self.forms
            if getattr(form, "cleaned_data", None)
            and form.cleaned_data.get("is_default")
            and not form.cleaned_data.get("DELETE")
        )
        check_default_count(self.instance, defaults)
