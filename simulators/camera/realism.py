"""Names of the degradations the camera simulator can apply (kept free of OpenCV imports)."""

REALISM = ("rotate", "blur", "noise", "perspective", "low_light", "low_contrast", "empty")
"""Options of ``render_sequence`` and ``tapfleet sim show-qr --realism``."""
