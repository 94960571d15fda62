"""Rendering the shipped Mosquitto configuration, password file and ACL.

The tuned configuration lives in ``deploy/mosquitto/mosquitto.conf.in``; this module fills
in the listener, data directory and (optionally) authentication. Per-kiosk ACLs come from
``shared.topics.kiosk_acl`` so broker and code agree on the topic tree. Password hashes are
Mosquitto's own PBKDF2-SHA512 format (``$7$``), written without calling ``mosquitto_passwd``.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

from shared.topics import ROOT, kiosk_acl

TEMPLATE = Path(__file__).resolve().parent.parent / "deploy" / "mosquitto" / "mosquitto.conf.in"
_PBKDF2_ITERATIONS = 101  # what mosquitto_passwd (2.0) writes


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
) -> str:
    """The mosquitto.conf text; with ``auth`` the password and ACL files sit in ``data_dir``."""
    if auth is None:
        auth_block = "allow_anonymous true"
    else:
        auth_block = "\n".join(
            [
                "allow_anonymous false",
                f"password_file {data_dir / 'passwords'}",
                f"acl_file {data_dir / 'acl'}",
            ]
        )
    return Template(TEMPLATE.read_text(encoding="utf-8")).substitute(
        port=port,
        bind=bind,
        auth=auth_block,
        data_dir=str(data_dir).rstrip("/"),
        log_dest=log_dest,
        autosave_interval=autosave_interval,
        run_as=run_as,
    )


def write_broker_files(
    directory: Path,
    *,
    port: int,
    bind: str = "127.0.0.1",
    auth: BrokerAuth | None = None,
    log_dest: str = "stderr",
    autosave_interval: int = 60,
    run_as: str = "mosquitto",
) -> Path:
    """Write mosquitto.conf (plus passwords and acl with ``auth``) to ``directory``; its path."""
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
        ),
        encoding="utf-8",
    )
    if auth is not None:
        for name, text in (("passwords", render_password_file(auth)), ("acl", render_acl(auth))):
            path = directory / name
            path.write_text(text, encoding="utf-8")
            path.chmod(0o600)
    return conf


def hashes_for(passwords: Mapping[str, str]) -> dict[str, str]:
    """username -> Mosquitto hash for plain passwords (tests and first setup)."""
    return {user: mosquitto_password_hash(pw) for user, pw in passwords.items()}


def kiosk_pairs(rows: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """(kiosk id, store id) pairs, sorted, for :class:`BrokerAuth`."""
    return sorted(set(rows))
