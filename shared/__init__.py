"""What kiosk and coordinator must agree on: wire protocol, topic tree and ledger rules.

Nothing in this package does IO: no sqlite3, paho, nfc or cv2 import. Every function takes
the time, the state and the input it needs as arguments, so it can be tested exhaustively.

Because it is the one package both deployables install, it also holds what both processes
do alike: ``cli`` (the ``tapfleet`` command, which dispatches to ``device`` or
``coordinator`` without importing the other), ``settings_sources`` (one settings
precedence; reading the config file, when a process asks for its settings, is the only IO
here), ``password_hash`` (one scrypt format for ops passwords and staff PINs) and
``backoff`` (retry delays). ``tests/shared/test_import_boundaries.py`` keeps its imports to
the base dependencies.
"""


def _installed_version() -> str:
    # The release a kiosk runs is the wheel installed in its venv (device/updater.py): its
    # metadata names the version the heartbeat and the status page report.
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tapfleet")
    except PackageNotFoundError:  # a source tree without metadata
        return "0.1.0"


SOFTWARE_VERSION = _installed_version()
