"""The campaigns app in the admin: contacts, lists and do-not-call numbers (contacts.py)."""

from campaigns.admin import contacts  # noqa: F401 (registers the admins)
