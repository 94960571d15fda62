"""Rendering the shipped Mosquitto configuration, password file and ACL.

The tuned configuration lives in ``deploy/mosquitto/mosquitto.conf.in``; this module fills
in the listeners (plain, and TLS when asked), data directory and (optionally)
authentication. Per-kiosk ACLs come from ``shared.topics.kiosk_acl`` so broker and code agree
on the topic tree. Password hashes are Mosquitto's own PBKDF2-SHA512 format (``$7$``),
written without calling ``mosquitto_passwd``.

Files in the broker directory with authentication:

* ``passwords`` and ``acl`` — generated; the coordinator rewrites them after every kiosk
  enrollment, provisioning or revocation (:mod:`coordinator.mqtt.broker_sync`).
* ``coordinator-users`` — the coordinator replicas' users (``user:hash`` lines, the
  password-file format, so ``mosquitto_passwd`` can add one); they get full access to the
  Tapfleet tree and are copied into ``passwords``.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

from shared.topics import ROOT, bridge_topics, kiosk_acl

TEMPLATE = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto" / "mosquitto.conf.in"
BRIDGE_TEMPLATE = TEMPLATE.with_name("bridge.conf.in")
_PBKDF2_ITERATIONS = 101  # what mosquitto_passwd (2.0) writes
PASSWORDS = "passwords"
ACL = "acl"
COORDINATOR_USERS = "coordinator-users"
PID_FILE = "mosquitto.pid"


def mosquitto_password_hash(password: str) -> str:
    """A password hash line value Mosquitto 2.0 accepts (``$7$`` PBKDF2-SHA512)."""
    salt = secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, _PBKDF2_ITERATIONS)
    salt_text = base64.b64encode(salt).decode()
    return f"$7${_PBKDF2_ITERATIONS}${salt_text}${base64.b64encode(digest).decode()}"


@dataclass(frozen=True)
class BrokerAuth:
    """Users and what they may do; rendered into a password file and an ACL file."""

    password_hashes: Mapping[str, str]
    """username -> Mosquitto hash (see :func:`mosquitto_password_hash`)."""
    kiosks: Sequence[tuple[str, str]] = ()
    """(kiosk id = username, store id) of every kiosk."""
    coordinators: Sequence[str] = ("coordinator",)
    """Users with full access to the Tapfleet tree (coordinator replicas, tools)."""
    extra_acl: Sequence[str] = field(default_factory=tuple)


@dataclass(frozen=True)
class BrokerTls:
    """A TLS listener (in addition to the plain one, which can then stay on localhost)."""

    port: int
    cafile: Path
    """CA that signed ``certfile`` (and, with ``require_certificate``, the clients' certs)."""
    certfile: Path
    keyfile: Path
    bind: str = "0.0.0.0"
    require_certificate: bool = False
    """Mutual TLS: refuse clients without a certificate signed by ``cafile``."""
    tls_version: str = "tlsv1.2"
    """Lowest TLS version accepted."""


def render_tls_listener(tls: BrokerTls | None) -> str:
    """The listener block for ``tls`` (empty without TLS)."""
    if tls is None:
        return ""
    return "\n".join(
        [
            "",
            "# TLS listener (kiosks outside the store LAN). Authentication is global:",
            "# the same users and ACL apply on both listeners.",
            f"listener {tls.port} {tls.bind}",
            f"cafile {tls.cafile}",
            f"certfile {tls.certfile}",
            f"keyfile {tls.keyfile}",
            f"tls_version {tls.tls_version}",
            f"require_certificate {'true' if tls.require_certificate else 'false'}",
        ]
    )


@dataclass(frozen=True)
class BrokerBridge:
    """A store (or region) broker's bridge to the central broker."""

    name: str
    """Connection name, unique per store broker (``store-s001``)."""
    central: Sequence[tuple[str, int]]
    """(host, port) of the central broker; several for a cluster (tried in turn)."""
    store_ids: Sequence[str]
    """The stores whose kiosks connect to this broker."""
    kiosk_ids: Sequence[str] | None = None
    """Those kiosks (None: every kiosk's down-channels, ``+``; see bridge_topics)."""
    username: str | None = None
    """The bridge's user on the central broker (its ACL: these kiosks' topics)."""
    password: str | None = None
    cafile: Path | None = None
    """TLS to the central broker, verified against this CA (None: plain MQTT)."""


def render_bridge(bridge: BrokerBridge) -> str:
    """The bridge block (``deploy/mosquitto/bridge.conf.in``) for a store broker's config."""
    auth = ""
    if bridge.username:
        auth = f"remote_username {bridge.username}\nremote_password {bridge.password or ''}"
    tls = f"bridge_cafile {bridge.cafile}\nbridge_insecure false" if bridge.cafile else ""
    topics = "\n".join(
        f"topic {pattern} {direction} {qos}"
        for pattern, direction, qos in bridge_topics(bridge.store_ids, bridge.kiosk_ids)
    )
    return Template(BRIDGE_TEMPLATE.read_text(encoding="utf-8")).substitute(
        name=bridge.name,
        address=" ".join(f"{host}:{port}" for host, port in bridge.central),
        remote_clientid=f"tapfleet-bridge-{bridge.name}",
        local_clientid=f"tapfleet-bridge-{bridge.name}-local",
        remote_auth=auth,
        tls=tls,
        topics=topics,
    )


def render_acl(auth: BrokerAuth) -> str:
    """The ACL file: coordinators read/write the whole tree, kiosks only their own topics."""
    lines = ["# Tapfleet ACL (generated from shared.topics.kiosk_acl)", ""]
    for user in auth.coordinators:
        lines += [f"user {user}", f"topic readwrite {ROOT}/#", ""]
    for kiosk_id, store_id in auth.kiosks:
        lines.append(f"user {kiosk_id}")
        lines += [f"topic {access} {topic}" for access, topic in kiosk_acl(kiosk_id, store_id)]
        lines.append("")
    lines += list(auth.extra_acl)
    return "\n".join(lines) + "\n"


def render_password_file(auth: BrokerAuth) -> str:
    """The password file: one ``user:hash`` line per user."""
    return "".join(f"{user}:{h}\n" for user, h in sorted(auth.password_hashes.items()))


def render_broker_config(
    *,
    port: int,
    data_dir: Path,
    bind: str = "127.0.0.1",
    auth: BrokerAuth | None = None,
    log_dest: str = "stderr",
    autosave_interval: int = 60,
    run_as: str = "mosquitto",
    tls: BrokerTls | None = None,
    bridges: Sequence[BrokerBridge] = (),
) -> str:
    """The mosquitto.conf text; with ``auth`` the password and ACL files sit in ``data_dir``;
    ``bridges`` (a store broker's link to the central one) are appended."""
    if auth is None:
        auth_block = "allow_anonymous true"
    else:
        auth_block = "\n".join(
            [
                "allow_anonymous false",
                "use_username_as_clientid true",
                f"password_file {data_dir / PASSWORDS}",
                f"acl_file {data_dir / ACL}",
            ]
        )
    text = Template(TEMPLATE.read_text(encoding="utf-8")).substitute(
        port=port,
        bind=bind,
        auth=auth_block,
        tls_listener=render_tls_listener(tls),
        pid_file=data_dir / PID_FILE,
        data_dir=str(data_dir).rstrip("/"),
        log_dest=log_dest,
        autosave_interval=autosave_interval,
        run_as=run_as,
    )
    return "".join([text, *("\n" + render_bridge(b) for b in bridges)])


def write_broker_files(
    directory: Path,
    *,
    port: int,
    bind: str = "127.0.0.1",
    auth: BrokerAuth | None = None,
    log_dest: str = "stderr",
    autosave_interval: int = 60,
    run_as: str = "mosquitto",
    tls: BrokerTls | None = None,
    bridges: Sequence[BrokerBridge] = (),
) -> Path:
    """Write mosquitto.conf (plus passwords, acl and coordinator-users with ``auth``) to
    ``directory``; returns the config's path."""
    directory.mkdir(parents=True, exist_ok=True)
    conf = directory / "mosquitto.conf"
    conf.write_text(
        render_broker_config(
            port=port,
            data_dir=directory,
            bind=bind,
            auth=auth,
            log_dest=log_dest,
            autosave_interval=autosave_interval,
            run_as=run_as,
            tls=tls,
            bridges=bridges,
        ),
        encoding="utf-8",
    )
    if auth is not None:
        coordinators = {
            user: h for user, h in auth.password_hashes.items() if user in auth.coordinators
        }
        write_private(
            directory / COORDINATOR_USERS,
            render_password_file(BrokerAuth(password_hashes=coordinators)),
        )
        write_auth_files(directory, auth)
    return conf


def write_private(path: Path, text: str) -> bool:
    """Replace ``path`` atomically with ``text`` (mode 600); False when it already held it."""
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except OSError:
        pass
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return True


def write_auth_files(directory: Path, auth: BrokerAuth) -> bool:
    """Write ``passwords`` and ``acl`` for ``auth``; True when either changed."""
    changed = write_private(directory / PASSWORDS, render_password_file(auth))
    return write_private(directory / ACL, render_acl(auth)) or changed


def read_password_file(path: Path) -> dict[str, str]:
    """username -> hash from a Mosquitto password file (missing file: empty)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    users: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, digest = line.partition(":")
        if not sep or not user or not digest:
            raise ValueError(f"{path}:{number}: expected 'user:hash'")
        users[user] = digest
    return users


def hashes_for(passwords: Mapping[str, str]) -> dict[str, str]:
    """username -> Mosquitto hash for plain passwords (tests and first setup)."""
    return {user: mosquitto_password_hash(pw) for user, pw in passwords.items()}


def kiosk_pairs(rows: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """(kiosk id, store id) pairs, sorted, for :class:`BrokerAuth`."""
    return sorted(set(rows))
