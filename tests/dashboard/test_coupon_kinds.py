"""Every coupon kind of ``shared.model.COUPON_KINDS`` can be issued from the rollout form,
with its label in both languages (the kiosk's side: ``tests/kiosk/test_coupon_kinds.py``).

The form once hard-coded three kinds, so a fourth could not be issued; this fails when a
kind is missing from the form or its labels (no browser: the template is rendered directly).
"""

from __future__ import annotations

import re
from functools import partial

import pytest

from coordinator.dashboard import i18n, pages
from coordinator.security.auth import Principal, Role
from shared.model import COUPON_KINDS, CouponKind


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_rollout_form_offers_every_kind_with_its_label(lang: str) -> None:
    html = (
        pages._env()
        .get_template("rollouts.html")
        .render(
            lang=lang,
            t=partial(i18n.t, lang),
            user=Principal("admin", Role.HQ_ADMIN, None),
            can_write=True,
            csrf="x",
            words=i18n.client_words(lang),
            path="/dashboard/rollouts",
            switch_url="/dashboard/rollouts",
            nav="rollouts",
            stores=[],
            draft="{}",
        )
    )
    select = re.search(r'<select id="campaign-kind">(.*?)</select>', html, re.S)
    assert select is not None
    options = re.findall(r'<option value="([^"]+)">([^<]+)</option>', select.group(1))
    assert options == [(kind.value, info.form_label(lang)) for kind, info in COUPON_KINDS.items()]
    assert [value for value, _ in options] == [k.value for k in COUPON_KINDS]
    assert {value for value, _ in options} == {k.value for k in CouponKind}
    for kind in CouponKind:
        assert i18n.client_words(lang)[f"rollouts.kind.{kind.value}"]
