"""Who may do what: ops users and roles, page sessions, login limits, kiosk enrollment, QR
signing keys sealed at rest, and what a kiosk may know about a member."""
