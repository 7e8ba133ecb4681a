from django.contrib import admin

from analytics.models import TenantPricing
from voiceapp.tenancy import TenantModelAdmin


@admin.register(TenantPricing)
class TenantPricingAdmin(TenantModelAdmin):
    list_display = ["tenant", "currency", "carrier_per_minute", "stt_per_minute"]
