"""Tap and scan debouncing, with time and frame numbers passed in."""

from __future__ import annotations

from device.readers.debounce import CodeDebouncer, TapDebouncer


def test_held_card_is_one_tap() -> None:
    taps = TapDebouncer(rearm_s=0.5)
    assert taps.arrived("04AA", 0.0)
    for t in range(1, 50):
        taps.still_present("04AA", t * 0.1)
    assert taps.present_uid == "04AA"


def test_card_lifted_and_presented_again_is_a_new_tap() -> None:
    taps = TapDebouncer(rearm_s=0.5)
    assert taps.arrived("04AA", 0.0)
    taps.left("04AA", 1.0)
    assert taps.present_uid is None
    assert taps.arrived("04AA", 1.6)


def test_flicker_within_rearm_window_is_the_same_tap() -> None:
    taps = TapDebouncer(rearm_s=0.5)
    assert taps.arrived("04AA", 0.0)
    taps.left("04AA", 1.0)
    assert not taps.arrived("04AA", 1.3)


def test_another_card_is_always_a_new_tap() -> None:
    taps = TapDebouncer(rearm_s=10)
    assert taps.arrived("04AA", 0.0)
    taps.left("04AA", 0.1)
    assert taps.arrived("04BB", 0.2)
    taps.left("04BB", 0.3)
    assert taps.arrived("04AA", 0.4)


def test_zero_rearm_makes_every_return_a_tap() -> None:
    taps = TapDebouncer(rearm_s=0)
    assert taps.arrived("04AA", 0.0)
    taps.left("04AA", 1.0)
    assert taps.arrived("04AA", 1.0 + 1e-6)


def test_code_in_view_is_reported_once_despite_missed_frames() -> None:
    codes = CodeDebouncer(gone_after_frames=5)
    seen = []
    for index in range(1, 40):
        texts = [] if index % 3 == 0 else ["TOKEN"]  # decoder misses every third frame
        seen += codes.frame(index, texts)
    assert seen == ["TOKEN"]


def test_code_back_after_leaving_view_is_a_new_scan() -> None:
    codes = CodeDebouncer(gone_after_frames=5)
    assert codes.frame(1, ["A"]) == ["A"]
    for index in range(2, 8):
        assert codes.frame(index, []) == []
    assert codes.frame(8, ["A"]) == ["A"]
    assert codes.frame(9, ["A", "B", "B"]) == ["B"]
