"""Why a tap or request was refused, in words a member can act on (zh-CN and en).

Each reason has a stable machine code (kept in events, metrics and the API) and a short
message for the kiosk screen that says what to do next.
"""

from __future__ import annotations

from enum import StrEnum


class RejectReason(StrEnum):
    """Machine-readable refusal codes."""

    UNKNOWN_CARD = "unknown_card"
    CARD_REVOKED = "card_revoked"
    MEMBER_SUSPENDED = "member_suspended"
    QR_MALFORMED = "qr_malformed"
    QR_BAD_SIGNATURE = "qr_bad_signature"
    QR_UNKNOWN_KEY = "qr_unknown_key"
    QR_EXPIRED = "qr_expired"
    QR_NOT_YET_VALID = "qr_not_yet_valid"
    QR_REPLAYED = "qr_replayed"
    DEVICE_UNKNOWN = "device_unknown"
    DEVICE_REVOKED = "device_revoked"
    PHONE_CLOCK_OFF = "phone_clock_off"
    UNKNOWN_MEMBER = "unknown_member"
    NO_VALID_PASS = "no_valid_pass"
    PASS_EXPIRED = "pass_expired"
    PASS_NOT_YET_ACTIVE = "pass_not_yet_active"
    PASS_FROZEN = "pass_frozen"
    NO_SESSIONS_LEFT = "no_sessions_left"
    OUTSIDE_SIGNIN_WINDOW = "outside_signin_window"
    CLASS_UNKNOWN = "class_unknown"
    CLASS_FULL = "class_full"
    ALREADY_SIGNED_IN = "already_signed_in"
    ALREADY_CHECKED_IN = "already_checked_in"
    INSUFFICIENT_POINTS = "insufficient_points"
    REWARD_UNKNOWN = "reward_unknown"
    COUPON_NOT_FOUND = "coupon_not_found"
    COUPON_USED = "coupon_used"
    COUPON_EXPIRED = "coupon_expired"
    COUPON_NOT_YET_VALID = "coupon_not_yet_valid"
    COUPON_WRONG_STORE = "coupon_wrong_store"
    COUPON_NEEDS_NETWORK = "coupon_needs_network"
    COUPON_BELOW_MIN_SPEND = "coupon_below_min_spend"
    OFFLINE_LIMIT_REACHED = "offline_limit_reached"
    OFFLINE_TOO_LONG = "offline_too_long"
    UNDO_NOT_ALLOWED = "undo_not_allowed"
    INSUFFICIENT_BALANCE = "insufficient_balance"
    AMOUNT_INVALID = "amount_invalid"
    STORAGE_FULL = "storage_full"
    NOT_READY = "not_ready"
    STREAM_REFUSED = "stream_refused"


_MESSAGES: dict[RejectReason, tuple[str, str]] = {
    RejectReason.UNKNOWN_CARD: (
        "这张卡还没有登记，请到前台办理。",
        "This card isn't registered yet. Please see the front desk.",
    ),
    RejectReason.CARD_REVOKED: (
        "这张卡已挂失停用，请到前台补办新卡。",
        "This card was reported lost and is blocked. Please see the front desk for a new one.",
    ),
    RejectReason.MEMBER_SUSPENDED: (
        "会员账户已暂停，请到前台咨询。",
        "This membership is on hold. Please see the front desk.",
    ),
    RejectReason.QR_MALFORMED: (
        "无法识别这个二维码，请打开会员页面的会员码。",
        "This isn't a member code. Please open the member code in your app.",
    ),
    RejectReason.QR_BAD_SIGNATURE: (
        "会员码无效，请在手机上刷新后重试。",
        "This member code isn't valid. Refresh it on your phone and try again.",
    ),
    RejectReason.QR_UNKNOWN_KEY: (
        "会员码暂时无法验证，请刷新后重试或刷卡。",
        "This member code can't be checked right now. Refresh it, or tap your card.",
    ),
    RejectReason.QR_EXPIRED: (
        "会员码已过期，请在手机上刷新后重试。",
        "This member code has expired. Refresh it on your phone and try again.",
    ),
    RejectReason.QR_NOT_YET_VALID: (
        "会员码时间不对，请检查手机时间后刷新。",
        "This member code isn't valid yet. Check your phone's clock and refresh.",
    ),
    RejectReason.QR_REPLAYED: (
        "这个会员码已经用过，请刷新后重试。",
        "This member code was already used. Refresh it and try again.",
    ),
    RejectReason.DEVICE_UNKNOWN: (
        "这部手机没有登记在这个会员名下，请重新打开会员码页面。",
        "This phone isn't registered to this membership. Open your member code page again.",
    ),
    RejectReason.DEVICE_REVOKED: (
        "这部手机已从会员账户移除，请到前台办理或刷会员卡。",
        "This phone was removed from the membership. Tap your card or see the front desk.",
    ),
    RejectReason.PHONE_CLOCK_OFF: (
        "手机时间与自助机相差太多，请把手机设为自动设置时间后刷新会员码。",
        "Your phone's clock is far off the kiosk's. Set the time to automatic and refresh.",
    ),
    RejectReason.UNKNOWN_MEMBER: (
        "找不到您的会员信息，请到前台咨询。",
        "We can't find your membership. Please see the front desk.",
    ),
    RejectReason.NO_VALID_PASS: (
        "您没有适用于这节课的课程卡，请到前台购买。",
        "You have no pass for this class. Please see the front desk.",
    ),
    RejectReason.PASS_EXPIRED: (
        "您的课程卡已过期，请到前台续卡。",
        "Your pass has expired. Please see the front desk to renew it.",
    ),
    RejectReason.PASS_NOT_YET_ACTIVE: (
        "您的课程卡还未生效，请到前台咨询。",
        "Your pass isn't active yet. Please see the front desk.",
    ),
    RejectReason.PASS_FROZEN: (
        "您的课程卡已冻结，请到前台解冻。",
        "Your pass is frozen. Please see the front desk to unfreeze it.",
    ),
    RejectReason.NO_SESSIONS_LEFT: (
        "课程卡次数已用完，请到前台续卡。",
        "No sessions left on your pass. Please see the front desk.",
    ),
    RejectReason.OUTSIDE_SIGNIN_WINDOW: (
        "现在不在这节课的签到时间内。",
        "Sign-in for this class isn't open right now.",
    ),
    RejectReason.CLASS_UNKNOWN: (
        "找不到这节课，请到前台咨询。",
        "We can't find this class. Please see the front desk.",
    ),
    RejectReason.CLASS_FULL: (
        "这节课已满员，本次未扣次。",
        "This class is full. Nothing was deducted.",
    ),
    RejectReason.ALREADY_SIGNED_IN: (
        "您已签到这节课，不会重复扣次。",
        "You're already signed in to this class. Nothing more was deducted.",
    ),
    RejectReason.ALREADY_CHECKED_IN: (
        "您刚刚已签到，无需重复刷卡。",
        "You're already checked in. No need to tap again.",
    ),
    RejectReason.INSUFFICIENT_POINTS: (
        "积分不足，无法兑换。",
        "Not enough points for this reward.",
    ),
    RejectReason.REWARD_UNKNOWN: (
        "这个奖励已下架，请选择其他奖励。",
        "This reward is no longer offered. Please pick another one.",
    ),
    RejectReason.COUPON_NOT_FOUND: (
        "找不到这张优惠券。",
        "We can't find this coupon.",
    ),
    RejectReason.COUPON_USED: (
        "这张优惠券已使用。",
        "This coupon has already been used.",
    ),
    RejectReason.COUPON_EXPIRED: (
        "这张优惠券已过期。",
        "This coupon has expired.",
    ),
    RejectReason.COUPON_NOT_YET_VALID: (
        "这张优惠券还未到使用时间。",
        "This coupon isn't valid yet.",
    ),
    RejectReason.COUPON_WRONG_STORE: (
        "这张优惠券不能在本店使用。",
        "This coupon can't be used in this store.",
    ),
    RejectReason.COUPON_NEEDS_NETWORK: (
        "网络恢复后才能使用这张优惠券，请稍后再试或联系店员。",
        "This coupon needs a network connection. Please try again later or ask staff.",
    ),
    RejectReason.COUPON_BELOW_MIN_SPEND: (
        "消费金额未达到这张券的最低消费。",
        "This purchase is below the coupon's minimum spend.",
    ),
    RejectReason.OFFLINE_LIMIT_REACHED: (
        "网络暂时中断，已达到离线使用上限，请联系店员。",
        "We're offline and have reached the offline limit. Please ask staff for help.",
    ),
    RejectReason.OFFLINE_TOO_LONG: (
        "本机离线时间过长，暂时无法扣次或兑换，请联系店员。",
        "This kiosk has been offline too long to deduct or redeem. Please ask staff.",
    ),
    RejectReason.UNDO_NOT_ALLOWED: (
        "这笔操作无法撤销（已超过撤销时限或已撤销）。",
        "This action can't be undone (too late, or already undone).",
    ),
    RejectReason.INSUFFICIENT_BALANCE: (
        "储值余额不足，请充值或换一种方式支付。",
        "Not enough stored value. Please top up or pay another way.",
    ),
    RejectReason.AMOUNT_INVALID: (
        "金额不正确，请重新输入。",
        "That amount isn't valid. Please enter it again.",
    ),
    RejectReason.STORAGE_FULL: (
        "本机存储已满，暂停服务，请联系店员。",
        "This kiosk's storage is full and it can't record taps. Please ask staff.",
    ),
    RejectReason.NOT_READY: (
        "本机正在同步会员数据，请稍候或联系店员。",
        "This kiosk is still loading member data. Please wait a moment or ask staff.",
    ),
    RejectReason.STREAM_REFUSED: (
        "本机的账本需要总部重新登记，暂停服务，请联系店员。",
        "This kiosk's ledger must be re-provisioned by HQ before it can record taps. "
        "Please ask staff.",
    ),
}


def message(reason: RejectReason, lang: str) -> str:
    """The member-facing sentence for ``reason`` in ``lang`` ("zh" or "en")."""
    zh, en = _MESSAGES[reason]
    return en if lang == "en" else zh


def messages(reason: RejectReason) -> tuple[str, str]:
    """(zh, en) sentences for ``reason``."""
    return _MESSAGES[reason]


def class_full_messages(
    next_title_zh: str | None, next_title_en: str | None, next_at_local: str | None
) -> tuple[str, str]:
    """(zh, en) for a full class, pointing to the next session with seats when there is one
    (``next_at_local``: its store-local start, e.g. ``周四 18:30`` / ``Thu 18:30``)."""
    zh, en = _MESSAGES[RejectReason.CLASS_FULL]
    if next_title_zh is None or next_title_en is None or next_at_local is None:
        return zh + "请到前台咨询其他课程。", en + " Please ask the front desk about other classes."
    return (
        f"{zh}下一节有空位：{next_title_zh}，{next_at_local}。",
        f"{en} Next with seats: {next_title_en}, {next_at_local}.",
    )
