"""The HTTP API: JSON under ``/api/v1/``, one small router module per resource."""
