"""A stand-in for ``systemctl restart|stop tapfleet-kiosk`` in the update tests.

``python -m tests.reliability.service_shim restart|stop FOLDER ROOT`` stops the kiosk whose pid
is in ``FOLDER/kiosk.pid`` (SIGTERM to its process group, SIGKILL after 20 s) and, for
``restart``, starts ``ROOT/current/bin/tapfleet kiosk --config FOLDER/kiosk.json`` in a
session of its own, as the unit's ``ExecStart`` does; its output goes to ``FOLDER/kiosk.log``.
The kiosk starts in ``FOLDER`` (never the repository: nothing may import the source tree).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by init) counts as gone.
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
            return False
    return True


def stop(folder: Path) -> None:
    """Stop the running kiosk, if any."""
    pidfile = folder / "kiosk.pid"
    if not pidfile.exists():
        return
    pid = int(pidfile.read_text())
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    pidfile.unlink()


def start(folder: Path, root: Path) -> None:
    """Start the kiosk of the current release."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TAPFLEET_", "PYTHON"))}
    env["PYTHONUNBUFFERED"] = "1"
    with (folder / "kiosk.log").open("a", encoding="utf-8") as log:
        proc = subprocess.Popen(
            [str(root / "current" / "bin" / "tapfleet"), "kiosk", "--config",
             str(folder / "kiosk.json")],
            cwd=folder,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )  # fmt: skip
    (folder / "kiosk.pid").write_text(str(proc.pid))


def main(argv: list[str]) -> int:
    """``restart|stop FOLDER ROOT``."""
    action, folder, root = argv[0], Path(argv[1]), Path(argv[2])
    stop(folder)
    if action == "restart":
        start(folder, root)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
