"""The kiosk's local web UI: a small JSON API, a Server-Sent Events stream and static pages.

Chromium shows ``/`` full-screen on the touchscreen (kiosk mode). Everything the page needs
ships in ``static/`` (no CDN): the kiosk must work with the internet down.
"""
