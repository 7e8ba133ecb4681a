"""Who may talk to an agent from the browser: staff of the agent's tenant (or a superuser)."""

from __future__ import annotations

from calls.models import Agent
from voiceapp.tenancy import scope


def agent_for_staff(user, agent_id: int) -> Agent | None:
    """The agent `agent_id` if `user` is active staff of its (active) tenant, else None: the page
    answers 404 and the socket is refused, so another tenant's agent id tells nothing."""
    if not user or not user.is_authenticated or not user.is_active or not user.is_staff:
        return None
    agents = scope(Agent.objects.select_related("tenant"), user).filter(tenant__active=True)
    return agents.filter(pk=agent_id).first()
