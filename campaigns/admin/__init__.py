"""The campaigns app in the admin: contacts, lists and do-not-call numbers (contacts.py);
campaigns, their windows and attempts (campaigns.py)."""

from campaigns.admin import campaigns, contacts, morning  # noqa: F401 (registers the admins)
