"""Staged software updates of a kiosk, with a health gate and rollback by itself.

Run by a systemd timer (``deploy/systemd/tapfleet-update.timer``), once per run::

    python -m device.updater --config /etc/tapfleet/update.toml

The layout is the one Pi fleets use for Python services: every release is a wheel from the
chain's own repository, installed into its own venv ``<root>/releases/<version>/``;
``<root>/current`` is a symlink to the running one and the kiosk's unit starts
``<root>/current/bin/tapfleet kiosk``. One run:

1. reads the channel's manifest (``{"channel", "version", "wheel_url", "sha256",
   "percentage"}``, from the coordinator: ``GET /api/v1/software/manifest/{store_id}``);
2. does nothing when that version runs already, failed here before, or this machine is not
   in its phase (:func:`shared.phased.in_phase`, seeded by ``/etc/machine-id`` as APT's
   ``Phased-Update-Percentage``);
3. downloads the wheel, checks its SHA-256, installs it into a fresh venv (pip, nothing
   home-made), switches ``current`` atomically (the previous release stays installed) and
   restarts the kiosk;
4. waits up to ``health_timeout_s`` for the kiosk's own status (``/api/status``) to report
   ``ready`` on the new version; otherwise it switches ``current`` back, puts back the
   ledger copy the new version took before migrating (only when nothing was journaled since),
   restarts the old release, and remembers the version as bad so it is not tried again.

The kiosk's ledger migrations take a copy first and run in one transaction
(:func:`device.ledger.database.migrate_with_backup`).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import os
import sqlite3
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shared.phased import VERSION, in_phase

log = logging.getLogger("tapfleet.updater")


class UpdaterSettings(BaseModel):
    """``/etc/tapfleet/update.toml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    manifest_url: str = Field(description="The channel manifest (http(s) URL or file path).")
    root: Path = Field(Path("/opt/tapfleet"), description="Holds releases/, current, state.")
    machine_id_path: Path = Field(Path("/etc/machine-id"), description="Seeds the phase draw.")
    restart_command: list[str] = Field(
        ["systemctl", "restart", "tapfleet-kiosk"], description="Restarts the kiosk service."
    )
    stop_command: list[str] = Field(
        ["systemctl", "stop", "tapfleet-kiosk"], description="Stops it (before a rollback)."
    )
    health_url: str = Field(
        "http://127.0.0.1:8080/api/status", description="The kiosk's own status page."
    )
    health_timeout_s: float = Field(120.0, gt=0, description="Time a new release has to be up.")
    ledger_path: Path = Field(
        Path("/var/lib/tapfleet/ledger.db"), description="The kiosk ledger (restored on rollback)."
    )
    python: str = Field(sys.executable, description="The interpreter new venvs are made from.")
    pip_args: list[str] = Field(
        [], description="Extra pip install arguments (the chain's index: --index-url ...)."
    )
    dependencies_from: Path | None = Field(
        None,
        description="Development only: a site-packages whose packages new venvs see instead "
        "of installing the wheel's dependencies.",
    )


class Manifest(BaseModel):
    """What a channel offers now."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    channel: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")]
    version: Annotated[str, StringConstraints(pattern=VERSION.pattern)]
    wheel_url: str
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    percentage: Annotated[int, Field(ge=0, le=100)]


@dataclass(frozen=True)
class Outcome:
    """What a run did: ``up_to_date``, ``known_bad``, ``not_in_phase``, ``updated`` or
    ``rolled_back``, with the versions involved."""

    action: str
    running: str | None
    offered: str | None = None
    detail: str = ""


class UpdateError(Exception):
    """An update step failed before the switch (nothing changed on the kiosk)."""


def _read(url: str) -> bytes:
    if url.startswith(("http://", "https://")):
        import httpx

        response = httpx.get(url, timeout=60, follow_redirects=True)
        response.raise_for_status()
        return response.content
    return Path(url.removeprefix("file://")).read_bytes()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Updater:
    """One kiosk's releases, state file and health gate."""

    def __init__(
        self,
        settings: UpdaterSettings,
        *,
        run: Callable[[list[str]], None] | None = None,
        status: Callable[[], dict[str, Any] | None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.releases = settings.root / "releases"
        self.current = settings.root / "current"
        self.state_path = settings.root / "update-state.json"
        self._run = run or (lambda argv: subprocess.run(argv, check=True))
        self._status = status or self._http_status
        self._sleep = sleep

    # -- state ------------------------------------------------------------------------------

    def running_version(self) -> str | None:
        """The release ``current`` points at (None before the first install)."""
        return self.current.resolve().name if self.current.is_symlink() else None

    def state(self) -> dict[str, Any]:
        """The persisted state: ``bad`` versions and the ``previous`` release."""
        try:
            loaded: dict[str, Any] = json.loads(self.state_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            loaded = {}
        loaded.setdefault("bad", [])
        loaded.setdefault("previous", None)
        return loaded

    def _save(self, state: dict[str, Any]) -> None:
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2, sort_keys=True), encoding="utf-8")
        with tmp.open("rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, self.state_path)
        _fsync_dir(self.state_path.parent)

    def switch(self, version: str) -> None:
        """Point ``current`` at ``releases/<version>`` atomically (rename over the link)."""
        tmp = self.settings.root / ".current.tmp"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(Path("releases") / version)
        os.replace(tmp, self.current)
        _fsync_dir(self.settings.root)

    # -- install ----------------------------------------------------------------------------

    def install(self, manifest: Manifest) -> Path:
        """The release's venv with its wheel installed. Venvs are not relocatable, so it is
        built in place and marked complete last; a half-built one is removed and rebuilt."""
        target = self.releases / manifest.version
        marker = target / ".tapfleet-release-complete"
        if marker.exists():
            return target
        self.releases.mkdir(parents=True, exist_ok=True)
        data = _read(manifest.wheel_url)
        if hashlib.sha256(data).hexdigest() != manifest.sha256:
            raise UpdateError(f"{manifest.wheel_url}: SHA-256 differs from the manifest")
        if target.exists():
            import shutil

            shutil.rmtree(target)
        self._run([self.settings.python, "-m", "venv", "--without-pip", str(target)])
        wheel = target / Path(manifest.wheel_url).name
        wheel.write_bytes(data)
        deps: list[str] = []
        if self.settings.dependencies_from is not None:
            site = next((target / "lib").glob("python3*/site-packages"))
            (site / "tapfleet-dependencies.pth").write_text(
                f"{self.settings.dependencies_from}\n", encoding="utf-8"
            )
            deps = ["--no-deps"]
        self._run(
            [
                sys.executable,
                "-m",
                "pip",
                "--python",
                str(target / "bin" / "python"),
                "install",
                "--disable-pip-version-check",
                "-q",
                *deps,
                *self.settings.pip_args,
                str(wheel),
            ]
        )
        marker.write_text(manifest.model_dump_json(), encoding="utf-8")
        _fsync_dir(target)
        return target

    # -- health -----------------------------------------------------------------------------

    def _http_status(self) -> dict[str, Any] | None:
        import httpx

        try:
            response = httpx.get(self.settings.health_url, timeout=5)
            return dict(response.json()) if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            return None

    def healthy(self, version: str, timeout_s: float) -> bool:
        """The kiosk reports ``ready`` on ``version`` within ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        status: dict[str, Any] | None = None
        while time.monotonic() < deadline:
            status = self._status()
            if status and status.get("ready") and status.get("software_version") == version:
                return True
            self._sleep(0.5)
        seen = {k: status.get(k) for k in ("ready", "software_version")} if status else None
        log.error("%s not healthy within %.0f s; last status %s", version, timeout_s, seen)
        return False

    # -- the run ----------------------------------------------------------------------------

    def run_once(self, manifest: Manifest, machine_id: str) -> Outcome:
        """Decide, install, switch, gate, roll back: one timer run."""
        running = self.running_version()
        state = self.state()
        if manifest.version == running:
            return Outcome("up_to_date", running, manifest.version)
        if manifest.version in state["bad"]:
            return Outcome("known_bad", running, manifest.version, "failed here before")
        if not in_phase(manifest.channel, manifest.version, machine_id, manifest.percentage):
            return Outcome("not_in_phase", running, manifest.version, f"{manifest.percentage}%")
        self.install(manifest)
        switched_ms = int(time.time() * 1000)
        journaled = _last_seq(self.settings.ledger_path)
        state.update(previous=running, attempting=manifest.version, switched_ms=switched_ms)
        self._save(state)
        self.switch(manifest.version)
        log.warning("switched to %s (previous %s); restarting the kiosk", manifest.version, running)
        if self._restart() and self.healthy(manifest.version, self.settings.health_timeout_s):
            state.pop("attempting", None)
            self._save(state)
            self._prune(keep={manifest.version, *([running] if running else [])})
            return Outcome("updated", manifest.version, manifest.version)
        return self._roll_back(manifest.version, running, state, journaled)

    def _restart(self) -> bool:
        """Restart the kiosk service; False (logged) when the service manager refuses."""
        try:
            self._run(self.settings.restart_command)
        except (OSError, subprocess.CalledProcessError) as exc:
            log.error("restarting the kiosk failed: %s", exc)
            return False
        return True

    def _roll_back(
        self, failed: str, previous: str | None, state: dict[str, Any], journaled: int | None
    ) -> Outcome:
        state["bad"] = sorted({*state["bad"], failed})
        state.pop("attempting", None)
        self._save(state)
        if previous is None:
            return Outcome("rolled_back", None, failed, "no previous release to go back to")
        self._run(self.settings.stop_command)  # a release that is up but not healthy
        self.switch(previous)
        detail = self._restore_ledger(journaled)
        log.error("%s did not come up healthy; back on %s (%s)", failed, previous, detail)
        back = self._restart() and self.healthy(previous, self.settings.health_timeout_s)
        return Outcome(
            "rolled_back",
            previous,
            failed,
            f"{detail}; previous release {'healthy' if back else 'NOT healthy'}",
        )

    def _restore_ledger(self, journaled: int | None) -> str:
        """Put back the copy the failed release took before migrating the ledger, but only
        when the journal did not grow since the switch (never lose a tap)."""
        path = self.settings.ledger_path
        copies = sorted(path.parent.glob(f"{path.name}.pre-v*.bak"), key=os.path.getmtime)
        state = self.state()
        fresh = [c for c in copies if c.stat().st_mtime * 1000 >= state.get("switched_ms", 0)]
        if not fresh:
            return "ledger not migrated"
        if journaled is None or _last_seq(path) != journaled:
            return f"ledger migrated and journaled since; kept (copy {fresh[-1].name})"
        for suffix in ("-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        os.replace(fresh[-1], path)
        _fsync_dir(path.parent)
        return f"ledger restored from {fresh[-1].name}"

    def _prune(self, keep: set[str]) -> None:
        """Remove releases other than the running and the previous one."""
        import shutil

        for release in self.releases.iterdir():
            if release.name not in keep and not release.name.startswith("."):
                shutil.rmtree(release, ignore_errors=True)


def _last_seq(ledger: Path) -> int | None:
    """The ledger's last journaled seq, read-only (None without a ledger)."""
    if not ledger.exists():
        return None
    with contextlib.closing(sqlite3.connect(f"file:{ledger}?mode=ro", uri=True)) as conn:
        row = conn.execute("SELECT last_seq FROM kiosk WHERE id = 1").fetchone()
    return int(row[0]) if row else None


def main(argv: list[str] | None = None) -> int:
    """One timer run; exit 0 unless the update failed (rolled back or could not install)."""
    parser = argparse.ArgumentParser(prog="python -m device.updater", description=__doc__)
    parser.add_argument("--config", type=Path, required=True, help="update.toml (or .json)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    text = args.config.read_text(encoding="utf-8")
    raw = json.loads(text) if args.config.suffix == ".json" else tomllib.loads(text)
    settings = UpdaterSettings.model_validate(raw)
    updater = Updater(settings)
    try:
        manifest = Manifest.model_validate_json(_read(settings.manifest_url))
        machine_id = settings.machine_id_path.read_text(encoding="utf-8").strip()
        outcome = updater.run_once(manifest, machine_id)
    except (UpdateError, OSError, subprocess.CalledProcessError, ValueError) as exc:
        log.error("update failed before switching, nothing changed: %s", exc)
        return 1
    print(json.dumps(outcome.__dict__), flush=True)
    return 1 if outcome.action == "rolled_back" else 0


if __name__ == "__main__":
    sys.exit(main())
