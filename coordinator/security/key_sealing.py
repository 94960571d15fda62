"""Sealing the QR signing keys at rest (AES-256-GCM).

The Ed25519 private keys that sign member QR codes live in the ledger database so that
every replica signs with the same key. A database dump or backup alone must not be enough to
forge member codes, so each key is stored sealed with AES-256-GCM under a key-encryption key
that lives outside the database: the first line of ``qr_key_secret_file`` (preferred, e.g. a
systemd credential), else ``qr_key_secret``, else a key derived from ``secret_key`` with
HKDF-SHA256. The key id is the associated data, so a sealed key cannot be moved to another id.

Sealed text: ``s1.<12-byte nonce>.<ciphertext + 16-byte tag>`` (urlsafe base64, no padding).
Keys written before sealing existed (43 characters of plain base64) are still read, and the
coordinator re-seals them at start (:func:`coordinator.security.qr_keys.seal_plain_keys`).
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from coordinator.errors import CoordinatorError
from coordinator.settings import CoordinatorSettings
from shared import qrtoken

PREFIX = "s1."
_INFO = b"tapfleet qr key sealing v1"


class KeySealingError(CoordinatorError):
    """A sealed key cannot be opened (wrong secret, or the stored text is damaged)."""

    code = "key_sealing_error"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def derive_kek(secret: str) -> bytes:
    """A 32-byte key-encryption key from a secret text (HKDF-SHA256)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"tapfleet", info=_INFO).derive(
        secret.encode("utf-8")
    )


class KeySealer:
    """Seals and opens QR private keys with one key-encryption key."""

    def __init__(self, kek: bytes):
        if len(kek) != 32:
            raise ValueError("the key-encryption key must be 32 bytes")
        self._aead = AESGCM(kek)

    @classmethod
    def from_settings(cls, settings: CoordinatorSettings) -> KeySealer:
        """The sealer the settings describe (secret file, secret, or derived from secret_key)."""
        if settings.qr_key_secret_file is not None:
            try:
                lines = settings.qr_key_secret_file.read_text(encoding="utf-8").splitlines()
            except OSError as exc:
                raise KeySealingError(
                    f"cannot read qr_key_secret_file {settings.qr_key_secret_file}: {exc}"
                ) from exc
            secret = lines[0].strip() if lines else ""
            if len(secret) < 16:
                raise KeySealingError(
                    f"qr_key_secret_file {settings.qr_key_secret_file} must hold a secret of "
                    "16+ characters on its first line (e.g. `openssl rand -base64 32`)"
                )
            return cls(derive_kek(secret))
        if settings.qr_key_secret is not None:
            return cls(derive_kek(settings.qr_key_secret.get_secret_value()))
        return cls(derive_kek("secret_key:" + settings.secret_key.get_secret_value()))

    @staticmethod
    def is_sealed(text: str) -> bool:
        """True for sealed text (False for a legacy plain key)."""
        return text.startswith(PREFIX)

    def seal(self, key_id: str, raw: bytes) -> str:
        """Sealed text of a raw 32-byte Ed25519 private key."""
        qrtoken.encode_private_key(raw)  # refuses anything that is not a key
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, raw, key_id.encode("ascii"))
        return f"{PREFIX}{_b64(nonce)}.{_b64(sealed)}"

    def unseal(self, key_id: str, text: str) -> bytes:
        """The raw private key in ``text`` (sealed, or a legacy plain key)."""
        if not self.is_sealed(text):
            return qrtoken.decode_private_key(text)
        try:
            nonce_text, sealed_text = text[len(PREFIX) :].split(".")
            raw = self._aead.decrypt(
                _unb64(nonce_text), _unb64(sealed_text), key_id.encode("ascii")
            )
        except InvalidTag as exc:
            raise KeySealingError(
                f"QR key {key_id!r} was sealed with another secret: restore the "
                "qr_key_secret_file / qr_key_secret (or secret_key) it was sealed with, "
                "or rotate with a new key (POST /api/v1/qr-keys/rotate with announce_s=0)"
            ) from exc
        except ValueError as exc:
            raise KeySealingError(f"QR key {key_id!r} is stored damaged: {exc}") from exc
        return raw
