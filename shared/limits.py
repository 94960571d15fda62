"""Worst-case offline exposure, computable from the rule bundle alone.

A kiosk may act on information the coordinator has not yet confirmed: its own deductions
not yet folded into the member snapshot it holds (``unconfirmed``). The rules cap those per
member and per kiosk (:class:`~shared.model.OfflineLimits`). Because every kiosk's view is
the central ledger at some past moment plus its own unconfirmed events, the only deductions
no single view accounted for are other kiosks' unconfirmed ones. Hence, for one member and
N kiosks that can serve them, the ledger can end at most ``(N - 1) x cap`` below zero.
``tests/shared/test_limits.py`` simulates random fleets against this bound.
"""

from __future__ import annotations

from collections.abc import Mapping

from shared.model import CouponState, OfflineLimits


def worst_case_session_overspend(limits: OfflineLimits, n_kiosks: int) -> int:
    """Most sessions one member's passes can be overdrawn by, across ``n_kiosks`` kiosks."""
    return max(0, n_kiosks - 1) * limits.max_unconfirmed_sessions_per_member


def worst_case_points_overspend(limits: OfflineLimits, n_kiosks: int) -> int:
    """Most points one member can be overdrawn by, across ``n_kiosks`` kiosks."""
    return max(0, n_kiosks - 1) * limits.max_unconfirmed_points_per_member


def worst_case_coupon_extra_uses(
    limits: OfflineLimits, coupon: CouponState, kiosks_per_store: Mapping[str, int]
) -> int:
    """Most extra uses of one single-use coupon.

    Online redemptions go through a coordinator claim, which serialises them: no extra use.
    Offline, only the kiosks of the store :meth:`OfflineLimits.coupon_offline_store` names
    may redeem it without a claim, so at most every other kiosk of that store can spend it
    once more.
    """
    store = limits.coupon_offline_store(coupon)
    if store is None:
        return 0
    return max(0, kiosks_per_store.get(store, 0) - 1)


def fleet_exposure(limits: OfflineLimits, n_kiosks: int) -> tuple[int, int]:
    """(sessions, points) the whole fleet can have outstanding unconfirmed at any moment."""
    return (
        n_kiosks * limits.kiosk_max_unconfirmed_sessions,
        n_kiosks * limits.kiosk_max_unconfirmed_points,
    )
