"""Keeping Mosquitto's users and ACL in step with the ledger's kiosks.

The ledger is the one source of truth: a kiosk may log in to the broker while it is
registered and not revoked. After every enrollment, provisioning or revocation (and at start
and on every housekeeping round, to repair drift) the coordinator renders ``passwords`` and
``acl`` into ``settings.broker_dir`` from the ``coordinator-users`` file, its own broker user
and every kiosk that is not revoked, and sends ``SIGHUP`` to the broker when a file changed
(or an earlier signal could not be sent). Mosquitto 2.0 then reloads both files,
disconnects clients whose user is gone (a revoked kiosk) and refuses their reconnects; every
other client stays connected.

Why files and SIGHUP rather than Mosquitto's dynamic-security plugin: the files are derived
from the ledger and can be regenerated at any time (``tapfleet broker-config``), nothing but
the ledger has to be backed up, and the coordinator needs no broker admin credential. The
price is that the coordinator must be able to write the broker's directory and signal it
(same host and user, see ``docs/security.md``).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa

from coordinator import schema
from coordinator.db import Database
from coordinator.mqtt.broker_config import (
    COORDINATOR_USERS,
    PID_FILE,
    BrokerAuth,
    mosquitto_password_hash,
    read_password_file,
    write_auth_files,
)
from coordinator.settings import CoordinatorSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SyncResult:
    """What one synchronisation did."""

    enabled: bool
    changed: bool = False
    reloaded: bool = False
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON form for API answers."""
        return asdict(self)


class BrokerSync:
    """Renders the broker's password and ACL files from the ledger and makes Mosquitto reload."""

    def __init__(self, settings: CoordinatorSettings, db: Database):
        self._dir = settings.broker_dir
        self._pid_file = settings.broker_pid_file or (
            self._dir / PID_FILE if self._dir is not None else None
        )
        self._own_user = settings.mqtt_username
        self._own_password = settings.mqtt_password
        self._own_hash: str | None = None
        self._db = db
        self._lock = threading.Lock()
        self._reload_pending = False
        """The files changed but Mosquitto was not told: the next sync signals again."""

    @property
    def enabled(self) -> bool:
        """True when the coordinator manages the broker's files."""
        return self._dir is not None

    def coordinator_users(self) -> dict[str, str]:
        """Broker users with full access: ``coordinator-users`` plus this replica's own."""
        users = read_password_file(self._dir / COORDINATOR_USERS) if self._dir else {}
        if self._own_user and self._own_user not in users:
            if self._own_hash is None:
                # One salt per process keeps the rendered file stable between syncs.
                self._own_hash = mosquitto_password_hash(
                    self._own_password.get_secret_value() if self._own_password else ""
                )
            users[self._own_user] = self._own_hash
        return users

    def reserved_users(self) -> set[str]:
        """Broker user names a kiosk must never get (they would shadow a coordinator)."""
        names = {"coordinator"}
        if self._own_user:
            names.add(self._own_user)
        try:
            names |= set(self.coordinator_users())
        except (OSError, ValueError) as exc:
            log.warning("cannot read the coordinator users file: %s", exc)
        return names

    def sync(self) -> SyncResult:
        """Rewrite ``passwords`` and ``acl`` from the ledger; SIGHUP the broker if they changed.

        Never raises for broker trouble: the result says what went wrong (the ledger change
        that triggered the sync stands, and the next sync tries again).
        """
        if self._dir is None:
            return SyncResult(
                enabled=False,
                detail="broker_dir is not set: render the broker files with "
                "`tapfleet broker-config --db ...` and reload Mosquitto yourself",
            )
        with self._lock:
            try:
                coordinators = self.coordinator_users()
                k = schema.kiosks
                with self._db.read() as conn:
                    rows = conn.execute(
                        sa.select(k.c.kiosk_id, k.c.store_id, k.c.mqtt_password_hash)
                        .where(k.c.revoked.is_(False))
                        .order_by(k.c.kiosk_id)
                    ).all()
                kiosks = [
                    r for r in rows if r.mqtt_password_hash and r.kiosk_id not in coordinators
                ]
                hashes = {r.kiosk_id: str(r.mqtt_password_hash) for r in kiosks}
                hashes.update(coordinators)  # a coordinator user always wins
                auth = BrokerAuth(
                    password_hashes=hashes,
                    kiosks=[(r.kiosk_id, r.store_id) for r in kiosks],
                    coordinators=sorted(coordinators),
                )
                changed = write_auth_files(self._dir, auth)
            except (OSError, ValueError, sa.exc.SQLAlchemyError) as exc:
                log.warning("could not update the broker files in %s: %s", self._dir, exc)
                return SyncResult(enabled=True, detail=f"broker files not written: {exc}")
            if not changed and not self._reload_pending:
                return SyncResult(enabled=True, detail="broker files already current")
            reloaded, detail = self._reload()
            self._reload_pending = not reloaded
            return SyncResult(enabled=True, changed=changed, reloaded=reloaded, detail=detail)

    def _reload(self) -> tuple[bool, str]:
        assert self._pid_file is not None
        try:
            pid = int(self._pid_file.read_text(encoding="ascii").strip())
            os.kill(pid, signal.SIGHUP)
        except FileNotFoundError:
            detail = (
                f"files written, but no pid file at {self._pid_file}: start Mosquitto with "
                "the rendered config (it writes pid_file) or reload it yourself"
            )
        except ValueError:
            detail = f"files written, but {self._pid_file} does not hold a process id"
        except ProcessLookupError:
            detail = f"files written, but the process in {self._pid_file} is gone (stale pid)"
        except PermissionError:
            detail = (
                "files written, but not allowed to signal Mosquitto: run the coordinator "
                "as the broker's user (mosquitto.conf `user`)"
            )
        else:
            log.info("broker users and ACL updated; Mosquitto (pid %d) reloads them", pid)
            return True, f"Mosquitto (pid {pid}) reloads users and ACL"
        log.warning("broker not reloaded: %s", detail)
        return False, detail
