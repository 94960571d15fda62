"""Engagement that runs itself: the chain's automations (birthday gifts, welcome gifts,
reminders, win-back) applied to members on the housekeeping schedule."""
