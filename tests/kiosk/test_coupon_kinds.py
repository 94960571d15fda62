"""Every coupon kind shows its words on the kiosk's coupon list (``shared.model.COUPON_KINDS``;
the dashboard's side: ``tests/dashboard/test_coupon_kinds.py``)."""

from __future__ import annotations

import pytest

from device.ui.views import coupon_view
from shared.model import COUPON_KINDS, CouponKind, CouponState

T0 = 1_767_240_000_000


@pytest.mark.parametrize("kind", list(CouponKind))
def test_the_kiosk_coupon_list_names_every_kind(kind: CouponKind) -> None:
    coupon = CouponState(
        coupon_id="c1",
        campaign_id="camp",
        kind=kind,
        title="title",
        value=20,
        valid_from_ms=T0,
        valid_until_ms=T0 + 1000,
    )
    view = coupon_view(coupon, "Asia/Shanghai", "s1", T0)
    assert view.kind is kind and view.usable
    assert (view.kind_zh, view.kind_en) == COUPON_KINDS[kind].describe(20)
    assert view.kind_zh and view.kind_en


def test_the_kiosk_coupon_list_shows_a_vouchers_minimum_spend() -> None:
    coupon = CouponState(
        coupon_id="c1",
        campaign_id="camp",
        kind=CouponKind.VOUCHER,
        title="title",
        value=2000,
        min_spend_fen=10000,
        valid_from_ms=T0,
        valid_until_ms=T0 + 1000,
    )
    view = coupon_view(coupon, "Asia/Shanghai", "s1", T0)
    assert (view.kind_zh, view.kind_en) == ("代金券 ¥20 满¥100可用", "Voucher ¥20 on ¥100 or more")
