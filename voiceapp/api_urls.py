from django.urls import path
from rest_framework import serializers
from rest_framework.routers import DefaultRouter
from rest_framework_simplejwt.views import TokenRefreshView

from calls.api import AgentViewSet, CallViewSet
from orders.api import (
    CategoryViewSet,
    ChoiceRuleViewSet,
    ChoiceViewSet,
    ItemViewSet,
    MenuViewSet,
    OpeningHoursViewSet,
    OptionGroupViewSet,
    OrderViewSet,
)
from telephony.api import PhoneNumberViewSet, TwilioAccountViewSet
from voiceapp.api import TenantScopedReadOnlyViewSet
from voiceapp.api_tokens import LimitedTokenObtainPairView
from voiceapp.models import Tenant


class TenantSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tenant
        fields = ["id", "name", "slug", "time_zone", "active"]


class TenantViewSet(TenantScopedReadOnlyViewSet):
    queryset = Tenant.objects.all()
    serializer_class = TenantSerializer


router = DefaultRouter()
router.register("tenants", TenantViewSet)
router.register("twilio-accounts", TwilioAccountViewSet)
router.register("phone-numbers", PhoneNumberViewSet)
router.register("agents", AgentViewSet)
router.register("calls", CallViewSet)
router.register("menus", MenuViewSet)
router.register("categories", CategoryViewSet)
router.register("opening-hours", OpeningHoursViewSet)
router.register("option-groups", OptionGroupViewSet)
router.register("choices", ChoiceViewSet)
router.register("items", ItemViewSet)
router.register("choice-rules", ChoiceRuleViewSet)
router.register("orders", OrderViewSet)

urlpatterns = [
    # JWT beside session and token auth (voiceapp.api_tokens).
    path("token/", LimitedTokenObtainPairView.as_view(), name="token_obtain_pair"),
    path("token/refresh/", TokenRefreshView.as_view(), name="token_refresh"),
    *router.urls,
]
