"""The glue between inputs and the ledger: cards, QR codes and screen requests become decisions.

Reader threads call :meth:`TapService.on_card` / :meth:`TapService.on_qr`; the UI server calls
the redemption, lookup and undo methods. Each decision is committed by the ledger first, then
pushed to the screen at once (:class:`~device.ui.hub.EventHub`), then the MQTT link is woken
to send it. A failing step is logged with context and counted; it never kills a reader thread.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Protocol

from device.ledger import KioskLedger, MemberSummary, StationTapOutcome, TapOutcome
from device.ports import Clock
from device.readers.base import CardRead, QrRead
from device.sessions import MemberSession, MemberSessions, StaffSession, StaffSessions
from device.ui.hub import EventHub
from device.ui.views import (
    IDENTIFIED_REFUSALS,
    Source,
    TapView,
    member_card,
    refusal_view,
    tap_view,
)
from shared import phonecode
from shared.decide import ClaimOutcome, Refused
from shared.errors import TokenError
from shared.events import CredentialKind, CredentialRef, StationRef
from shared.qrtoken import verify_token
from shared.reasons import RejectReason

log = logging.getLogger(__name__)


class LinkPort(Protocol):
    """What the tap service needs from the MQTT link."""

    def notify_new_events(self) -> None:
        """Wake the outbox drainer."""
        ...

    def claim(
        self,
        member_id: str,
        coupon_id: str,
        event_id: str | None = None,
        timeout_s: float = 3.0,
    ) -> ClaimOutcome | None:
        """Ask the coordinator to reserve a coupon; None when offline or no answer in time."""
        ...


@dataclass
class TapCounters:
    """Outcomes so far, for heartbeats and the staff sync page."""

    accepted: int = 0
    refused: int = 0
    last_good_tap_ms: int | None = None
    handler_errors: int = 0
    qr_refused_unverified: int = 0
    """QR codes refused before a member lookup (bad signature, expired...), journalled
    as member-less refusals."""


class TapService:
    """Decides taps and screen requests through the ledger and pushes results to the screen."""

    def __init__(
        self,
        ledger: KioskLedger,
        hub: EventHub,
        *,
        clock: Clock,
        member_sessions: MemberSessions,
        staff_sessions: StaffSessions,
        default_lang: str = "zh",
        link: LinkPort | None = None,
        claim_timeout_s: float = 3.0,
    ) -> None:
        self._ledger = ledger
        self._hub = hub
        self._clock = clock
        self.members = member_sessions
        self.staff = staff_sessions
        self.default_lang = default_lang
        self._link = link
        self._claim_timeout_s = claim_timeout_s
        self._lock = threading.Lock()
        self._lookup_armed_for: str | None = None
        self.counters = TapCounters()

    def attach_link(self, link: LinkPort | None) -> None:
        """Set the link (the app builds it after the service, since it reads our health)."""
        self._link = link

    # --- inputs (reader threads) ----------------------------------------------------------------

    def on_card(self, read: CardRead) -> None:
        """A card was tapped: staff card, staff lookup, or a member tap through the ledger."""
        try:
            self._card(read.uid)
        except Exception:
            self.counters.handler_errors += 1
            log.exception("card tap %s could not be handled; the member saw no result", read.uid)
            self._publish_tap(refusal_view(RejectReason.NOT_READY, self.default_lang))

    def on_qr(self, read: QrRead) -> None:
        """A QR code came into view: verify it offline, then tap through the ledger."""
        try:
            self._qr(read.text)
        except Exception:
            self.counters.handler_errors += 1
            log.exception("QR scan could not be handled; the member saw no result")
            self._publish_tap(refusal_view(RejectReason.NOT_READY, self.default_lang, source="qr"))

    def on_station_tap(self, uid: str, station: StationRef, room: str | None) -> StationTapOutcome:
        """A door station read a card: the ledger's card path for the station's room.

        The member is at the classroom door, not at this screen: no member session opens and
        no tap result is shown here; the roster (staff page) updates when a student signed
        in. Raises on an unexpected error (the station keeps the tap and hands it over
        again), after logging and counting it.
        """
        try:
            decided = self._ledger.tap_station(uid, station, room)
        except Exception:
            self.counters.handler_errors += 1
            log.exception(
                "station %s tap %d (card %s) could not be handled; the station will retry",
                station.station_id,
                station.tap_no,
                uid,
            )
            raise
        outcome = decided.outcome
        if outcome is not None:
            self._notify_link(outcome)
            self._count(outcome)
            if any(e.kind == "class_signin" for e in outcome.events):
                self._hub.publish("roster", {"changed": True})
        return decided

    def accept_station_number(self, station_id: str, number: int) -> int | None:
        """Record a station's request number if new (see ``KioskLedger``)."""
        return self._ledger.accept_station_number(station_id, number)

    def now_ms(self) -> int:
        """The kiosk's trusted time (coordinator-anchored once heard)."""
        return self._ledger.now_ms()

    def _card(self, uid: str) -> None:
        uid = uid.strip().upper()
        staff = self.staff.login_card(uid)
        if staff is not None:
            log.info("staff card %s opened staff mode", uid)
            self._hub.publish(
                "staff_login", {"token": staff.token, "staff_id": staff.staff_id, "via": "card"}
            )
            return
        with self._lock:
            armed, self._lookup_armed_for = self._lookup_armed_for, None
        if armed is not None and self.staff.get(armed, touch=True) is not None:
            member_id = self._ledger.member_for_card(uid)
            self._hub.publish("staff_lookup", {"member_id": member_id, "uid": uid})
            return
        outcome = self._ledger.tap_card(uid)
        self._after_tap(outcome, "card")

    def _qr(self, text: str) -> None:
        bundle = self._ledger.rule_bundle()
        if bundle is None:
            self._publish_tap(refusal_view(RejectReason.NOT_READY, self.default_lang, source="qr"))
            return
        rules = bundle.rules
        try:
            if phonecode.is_phone_code(text):
                # Signed by the member's phone: checked with that member's device keys.
                devices = self._ledger.member_devices(phonecode.claimed_member(text))
                claims = phonecode.verify_code(
                    text, devices, self._ledger.now_ms(), rules.qr_clock_skew_s
                )
            else:
                claims = verify_token(
                    text,
                    bundle.qr_keys,
                    self._ledger.now_ms(),  # coordinator-anchored: the wall clock may be off
                    rules.qr_clock_skew_s,
                    max_ttl_s=max(rules.qr_token_ttl_s, 5),
                )
        except TokenError as exc:
            with self._lock:
                self.counters.refused += 1
                self.counters.qr_refused_unverified += 1
            log.info("QR code refused: %s", exc)
            try:
                reason = RejectReason(exc.reason)
            except ValueError:
                reason = RejectReason.QR_MALFORMED
            # Journal it (no member: an unverified token names nobody we can trust), so the
            # coordinator sees forged and stale codes; a full disk only loses this audit line.
            refusal = self._ledger.record_refusal(
                reason, CredentialRef(kind=CredentialKind.QR), str(exc)
            )
            self._notify_link(refusal)
            self._publish_tap(refusal_view(reason, self.default_lang, source="qr"))
            return
        outcome = self._ledger.tap_qr(claims)
        self._after_tap(outcome, "qr")

    def _after_tap(self, outcome: TapOutcome, source: Source) -> TapView:
        self._notify_link(outcome)
        self._count(outcome)
        view = tap_view(
            outcome, self._ledger.rule_bundle(), default_lang=self.default_lang, source=source
        )
        decision = outcome.decision
        identified = outcome.member is not None and (
            outcome.accepted
            or (isinstance(decision, Refused) and decision.reason in IDENTIFIED_REFUSALS)
        )
        if identified and outcome.member is not None:
            session = self.members.open(outcome.member.member_id, view.lang)
            view = view.model_copy(
                update={"session_token": session.token, "session_s": self.members.ttl_s}
            )
        else:
            self.members.end()
        self._publish_tap(view)
        if any(e.kind == "class_signin" for e in outcome.events):
            self._hub.publish("roster", {"changed": True})
        return view

    def _publish_tap(self, view: TapView) -> None:
        self._hub.publish("tap", view.model_dump(mode="json"))

    def _notify_link(self, outcome: TapOutcome) -> None:
        if outcome.events and self._link is not None:
            try:
                self._link.notify_new_events()
            except Exception:
                self.counters.handler_errors += 1
                log.exception("could not wake the MQTT link; it will find the events itself")

    def _count(self, outcome: TapOutcome) -> None:
        with self._lock:  # the card and QR threads both count
            if outcome.accepted:
                self.counters.accepted += 1
                self.counters.last_good_tap_ms = self._ledger.now_ms()
            else:
                self.counters.refused += 1

    # --- member screen ----------------------------------------------------------------------------

    def member_session(self, token: str | None) -> MemberSession | None:
        """The live member session for ``token``."""
        return self.members.get(token)

    def summary(self, member_id: str) -> MemberSummary | None:
        """The member as this kiosk sees them now."""
        return self._ledger.member_summary(member_id)

    def redeem_points(
        self, member_id: str, reward_id: str, *, staff_id: str | None = None
    ) -> TapView:
        """Spend points on a reward (member session or staff on their behalf)."""
        outcome = self._ledger.redeem_points(member_id, reward_id, staff_id=staff_id)
        return self._after_request(outcome, staff_id)

    def redeem_coupon(
        self, member_id: str, coupon_id: str, *, staff_id: str | None = None
    ) -> TapView:
        """Use a coupon; when the rules need a coordinator claim, ask for it first (blocks)."""
        outcome = self._ledger.redeem_coupon(member_id, coupon_id, staff_id=staff_id)
        if outcome.needs_claim:
            claim = None
            if self._link is not None:
                claim = self._link.claim(member_id, coupon_id, timeout_s=self._claim_timeout_s)
            if claim is None:
                log.info("coupon %s: no claim from the coordinator (offline or slow)", coupon_id)
                summary = self._ledger.member_summary(member_id)
                bundle = self._ledger.rule_bundle()
                card = member_card(summary, bundle) if summary is not None else None
                lang = summary.lang if summary is not None else self.default_lang
                source: Source = "staff" if staff_id else "screen"
                return refusal_view(
                    RejectReason.COUPON_NEEDS_NETWORK, lang, member=card, source=source
                )
            outcome = self._ledger.redeem_coupon(
                member_id, coupon_id, claim=claim, staff_id=staff_id
            )
        return self._after_request(outcome, staff_id)

    def _after_request(self, outcome: TapOutcome, staff_id: str | None) -> TapView:
        self._notify_link(outcome)
        return tap_view(
            outcome,
            self._ledger.rule_bundle(),
            default_lang=self.default_lang,
            source="staff" if staff_id else "screen",
        )

    # --- staff ------------------------------------------------------------------------------------

    def arm_card_lookup(self, staff: StaffSession) -> None:
        """The next card tap looks the member up for staff instead of checking them in."""
        with self._lock:
            self._lookup_armed_for = staff.token

    def disarm_card_lookup(self) -> None:
        """Cancel a pending card lookup."""
        with self._lock:
            self._lookup_armed_for = None

    def undo(self, event_id: str, staff: StaffSession) -> TapView:
        """Reverse one of this kiosk's recent events (an audited Reversal event)."""
        outcome = self._ledger.reverse(event_id, staff.staff_id)
        view = self._after_request(outcome, staff.staff_id)
        if any(getattr(e.body, "target_kind", None) == "class_signin" for e in outcome.events):
            self._hub.publish("roster", {"changed": True})
        return view
