"""The kiosk UI's HTTP API: a few JSON routes, one event stream, and the static page.

Routes (all JSON unless noted)::

    GET  /                          the touchscreen page (HTML)
    GET  /static/...                its JS, CSS and images (shipped in the package, no CDN)
    GET  /healthz                   liveness for whoever starts the kiosk
    GET  /api/config                kiosk id, store, languages, timeouts
    GET  /api/status                online/connected/ready and reader health (also pushed)
    GET  /api/events                Server-Sent Events: status, tap, roster, staff_login,
                                    staff_lookup
    GET  /api/member                the tapped member's balances, coupons, rewards  [member]
    POST /api/member/redeem-points  {reward_id}                                     [member]
    POST /api/member/redeem-coupon  {coupon_id}                                     [member]
    POST /api/member/done           end the member session                          [member]
    POST /api/staff/login           {pin}
    POST /api/staff/logout                                                          [staff]
    POST /api/staff/lookup-card     the next card tap looks a member up             [staff]
    GET  /api/staff/member/{id}     one member, with the id                         [staff]
    POST /api/staff/redeem-points   {member_id, reward_id}                          [staff]
    POST /api/staff/redeem-coupon   {member_id, coupon_id}                          [staff]
    GET  /api/staff/recent          this kiosk's recent events, undoable marked     [staff]
    POST /api/staff/undo            {event_id}                                      [staff]
    GET  /api/staff/roster          today's classes and who signed in (a coach: own) [staff]
    GET  /api/staff/sync            sync status: online, outbox, versions, readers  [staff]

[member] routes need the ``X-Member-Session`` header (the token pushed with the tap);
[staff] routes need ``X-Staff-Session`` (from the PIN login or a staff card tap). Errors are
``{"code", "message_zh", "message_en"}`` with a 4xx status.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Header, Request
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints

from device.ledger import KioskLedger
from device.ports import Clock
from device.sessions import LoginRefused, StaffSession
from device.settings import KioskSettings
from device.tap_service import TapService
from device.ui.hub import EventHub, Subscription
from device.ui.views import (
    MemberDetail,
    RecentView,
    RosterView,
    StatusView,
    SyncView,
    TapView,
    bundle_tz,
    member_detail,
    recent_view,
    roster_views,
)
from shared.model import Id

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
KEEPALIVE_S = 15.0


@dataclass(frozen=True)
class UiBackend:
    """Everything the routes use; built by the kiosk app (the one wiring point)."""

    settings: KioskSettings
    service: TapService
    hub: EventHub
    ledger: KioskLedger
    clock: Clock
    status: Callable[[], StatusView]
    sync: Callable[[], SyncView]


class ApiError(Exception):
    """A 4xx answer with a machine-readable code and messages in both languages."""

    def __init__(self, status: int, code: str, zh: str, en: str, **extra: Any) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.zh = zh
        self.en = en
        self.extra = extra


MEMBER_EXPIRED = (
    401,
    "member_session_expired",
    "操作已超时，请重新刷卡。",
    "Your session has ended. Please tap your card again.",
)
STAFF_EXPIRED = (
    401,
    "staff_session_expired",
    "店员模式已退出，请重新输入密码。",
    "Staff mode has closed. Please enter the PIN again.",
)


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PinLogin(_Body):
    """Staff PIN login."""

    pin: Annotated[str, StringConstraints(min_length=1, max_length=32)]


class RewardChoice(_Body):
    """A reward picked on the member screen."""

    reward_id: Id


class CouponChoice(_Body):
    """A coupon picked on the member screen."""

    coupon_id: Id


class StaffRewardChoice(_Body):
    """Staff redeeming points for a member."""

    member_id: Id
    reward_id: Id


class StaffCharge(_Body):
    """Staff charging a member's stored value (the charge screen's keypad)."""

    member_id: Id
    amount_fen: StrictInt = Field(ge=1, le=10**9)
    purpose: str = Field("", max_length=200)


class StaffCouponChoice(_Body):
    """Staff redeeming a coupon for a member."""

    member_id: Id
    coupon_id: Id


class UndoRequest(_Body):
    """Staff undo of a recent event."""

    event_id: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]


class StaffLoginView(_Body):
    """A staff session."""

    token: str
    staff_id: str
    idle_s: float


class KioskConfigView(_Body):
    """What the page needs to know at load."""

    kiosk_id: str
    store_id: str
    default_lang: str
    result_display_s: float
    member_session_s: float
    staff_idle_s: float


class OkView(_Body):
    """Plain acknowledgement."""

    ok: bool = True


class RecentList(_Body):
    """Recent events of this kiosk, newest first."""

    events: tuple[RecentView, ...]
    undo_window_s: int


class RosterList(_Body):
    """Today's classes."""

    classes: tuple[RosterView, ...]


def create_ui_app(backend: UiBackend) -> FastAPI:
    """The FastAPI app of the kiosk UI, bound to ``backend``."""
    app = FastAPI(title="Tapfleet kiosk", docs_url=None, redoc_url=None, openapi_url=None)
    service = backend.service
    ledger = backend.ledger
    settings = backend.settings

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        body = {"code": exc.code, "message_zh": exc.zh, "message_en": exc.en, **exc.extra}
        return JSONResponse(body, status_code=exc.status)

    def member_session(token: str | None) -> str:
        session = service.member_session(token)
        if session is None:
            raise ApiError(*MEMBER_EXPIRED)
        return session.member_id

    def staff_session(token: str | None) -> StaffSession:
        session = service.staff.get(token)
        if session is None:
            raise ApiError(*STAFF_EXPIRED)
        return session

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-store"})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return {"ok": True, "kiosk_id": settings.kiosk_id, "store_id": settings.store_id}

    @app.get("/api/config")
    def config() -> KioskConfigView:
        return KioskConfigView(
            kiosk_id=settings.kiosk_id,
            store_id=settings.store_id,
            default_lang=settings.ui.default_lang,
            result_display_s=settings.ui.result_display_s,
            member_session_s=settings.ui.member_session_s,
            staff_idle_s=settings.staff.session_idle_s,
        )

    @app.get("/api/status")
    def status() -> StatusView:
        return backend.status()

    @app.get("/api/events")
    async def events(request: Request) -> StreamingResponse:
        sub = backend.hub.subscribe()
        return StreamingResponse(
            _stream(request, sub),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    # --- member -------------------------------------------------------------------------------

    @app.get("/api/member")
    def member(x_member_session: Annotated[str | None, Header()] = None) -> MemberDetail:
        member_id = member_session(x_member_session)
        session = service.member_session(x_member_session)
        summary = service.summary(member_id)
        if summary is None or session is None:
            raise ApiError(*MEMBER_EXPIRED)
        return member_detail(
            summary,
            ledger.rule_bundle(),
            store_id=settings.store_id,
            now_ms=ledger.now_ms(),
            with_id=False,
            session_s=service.members.remaining_s(session),
        )

    @app.post("/api/member/redeem-points")
    def member_redeem_points(
        body: RewardChoice, x_member_session: Annotated[str | None, Header()] = None
    ) -> TapView:
        return service.redeem_points(member_session(x_member_session), body.reward_id)

    @app.post("/api/member/redeem-coupon")
    def member_redeem_coupon(
        body: CouponChoice, x_member_session: Annotated[str | None, Header()] = None
    ) -> TapView:
        return service.redeem_coupon(member_session(x_member_session), body.coupon_id)

    @app.post("/api/member/done")
    def member_done(x_member_session: Annotated[str | None, Header()] = None) -> OkView:
        service.members.end(x_member_session)
        return OkView()

    # --- staff --------------------------------------------------------------------------------

    @app.post("/api/staff/login")
    def staff_login(body: PinLogin) -> StaffLoginView:
        result = service.staff.login_pin(body.pin)
        if isinstance(result, LoginRefused):
            if result.reason == "locked":
                wait = int(result.retry_after_s + 0.999)
                raise ApiError(
                    429,
                    "pin_locked",
                    f"密码错误次数过多，请 {wait} 秒后再试。",
                    f"Too many wrong PINs. Try again in {wait} s.",
                    retry_after_s=wait,
                )
            raise ApiError(
                401,
                "wrong_pin",
                "密码错误。",
                "Wrong PIN.",
                attempts_left=result.attempts_left,
            )
        log.info("staff %s logged in with the PIN", result.staff_id)
        return StaffLoginView(
            token=result.token, staff_id=result.staff_id, idle_s=service.staff.idle_s
        )

    @app.post("/api/staff/logout")
    def staff_logout(x_staff_session: Annotated[str | None, Header()] = None) -> OkView:
        service.staff.logout(x_staff_session)
        service.disarm_card_lookup()
        return OkView()

    @app.post("/api/staff/lookup-card")
    def staff_lookup_card(x_staff_session: Annotated[str | None, Header()] = None) -> OkView:
        service.arm_card_lookup(staff_session(x_staff_session))
        return OkView()

    @app.get("/api/staff/member/{member_id}")
    def staff_member(
        member_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:\-]{1,64}$")],
        x_staff_session: Annotated[str | None, Header()] = None,
    ) -> MemberDetail:
        staff_session(x_staff_session)
        summary = service.summary(member_id)
        if summary is None:
            raise ApiError(
                404,
                "member_not_found",
                "本机没有这个会员的资料。",
                "This kiosk has no member with that id.",
            )
        return member_detail(
            summary,
            ledger.rule_bundle(),
            store_id=settings.store_id,
            now_ms=ledger.now_ms(),
            with_id=True,
        )

    @app.post("/api/staff/redeem-points")
    def staff_redeem_points(
        body: StaffRewardChoice, x_staff_session: Annotated[str | None, Header()] = None
    ) -> TapView:
        staff = staff_session(x_staff_session)
        return service.redeem_points(body.member_id, body.reward_id, staff_id=staff.staff_id)

    @app.post("/api/staff/charge")
    def staff_charge(
        body: StaffCharge, x_staff_session: Annotated[str | None, Header()] = None
    ) -> TapView:
        staff = staff_session(x_staff_session)
        return service.charge_stored_value(
            body.member_id, body.amount_fen, staff_id=staff.staff_id, purpose=body.purpose
        )

    @app.post("/api/staff/redeem-coupon")
    def staff_redeem_coupon(
        body: StaffCouponChoice, x_staff_session: Annotated[str | None, Header()] = None
    ) -> TapView:
        staff = staff_session(x_staff_session)
        return service.redeem_coupon(body.member_id, body.coupon_id, staff_id=staff.staff_id)

    @app.get("/api/staff/recent")
    def staff_recent(x_staff_session: Annotated[str | None, Header()] = None) -> RecentList:
        staff_session(x_staff_session)
        bundle = ledger.rule_bundle()
        items = ledger.recent_events(20)
        names: dict[str, str] = {}
        for item in items:
            mid = item.event.member_id
            if mid and mid not in names:
                summary = ledger.member_summary(mid)
                if summary is not None:
                    names[mid] = summary.display_name
        return RecentList(
            events=tuple(recent_view(item, bundle, names) for item in items),
            undo_window_s=bundle.rules.undo_window_s if bundle else 0,
        )

    @app.post("/api/staff/undo")
    def staff_undo(
        body: UndoRequest, x_staff_session: Annotated[str | None, Header()] = None
    ) -> TapView:
        return service.undo(body.event_id, staff_session(x_staff_session))

    @app.get("/api/staff/roster")
    def staff_roster(x_staff_session: Annotated[str | None, Header()] = None) -> RosterList:
        who = staff_session(x_staff_session).staff_id
        bundle = ledger.rule_bundle()
        tz = bundle_tz(bundle)
        now = ledger.now_ms()
        rosters = [
            r for r in ledger.class_rosters() if bundle is None or bundle.sees_class(who, r.session)
        ]  # a coach with their own PIN sees only the classes they teach
        return RosterList(classes=tuple(roster_views(rosters, tz, now)))

    @app.get("/api/staff/sync")
    def staff_sync(x_staff_session: Annotated[str | None, Header()] = None) -> SyncView:
        staff_session(x_staff_session)
        return backend.sync()

    return app


async def _stream(request: Request, sub: Subscription) -> AsyncIterator[str]:
    """Frame hub messages as SSE until the page goes away or the hub closes."""
    try:
        yield "retry: 1000\n\n"
        while True:
            message = await sub.next(KEEPALIVE_S)
            if message is None:
                if await request.is_disconnected():
                    return
                yield ": keep-alive\n\n"
                continue
            if Subscription.is_closed(message):
                return
            yield message.sse()
    except asyncio.CancelledError:
        raise
    finally:
        sub.close()
