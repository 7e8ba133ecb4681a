"""The campaigns app in the admin: campaigns, their windows and attempts (campaigns.py)."""

from campaigns.admin import campaigns  # noqa: F401 (registers the admins)
