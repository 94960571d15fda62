"""``tapfleet demo``: a whole small chain on one machine, with traffic.

What runs (every part real, none mocked):

* a private Mosquitto with the shipped config and per-kiosk credentials (``fleet``),
* the coordinator on SQLite as a subprocess (``tapfleet coordinator``),
* kiosks as subprocesses (``tapfleet kiosk --config``), each with its own ledger, an nfcpy
  reader on the ``udp`` transport, a simulated MJPEG camera and its touchscreen UI,
* seeding through the coordinator's HTTP API (``seed``, data from ``catalog``),
* a traffic generator tapping virtual cards and showing member QR codes (``traffic``), with a
  class burst, redemptions and one kiosk losing its network (``netcut``) and catching up.

``processes`` owns every child process and guarantees none outlives the demo.
Import the submodules; this package stays light so building the command line stays fast.
"""
