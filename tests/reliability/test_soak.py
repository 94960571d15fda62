"""The soak: a simulated fleet of 50 real kiosks under random faults, ending with a full
ledger audit (see ``soak.py``).

The short form runs in ``make test``; ``make soak`` runs the long form
(``pytest -m soak tests/reliability``; ``TAPFLEET_SOAK_S`` sets its length in seconds).
"""

from __future__ import annotations

import os

import pytest

from simulators.broker import Broker
from tests.reliability.fleet import Fleet
from tests.reliability.soak import FAULTS, Soak, SoakPlan


@pytest.mark.slow
def test_short_soak_fifty_kiosks_random_faults_full_audit(fleet: Fleet, broker: Broker) -> None:
    plan = SoakPlan(duration_s=45.0, fault_every_s=1.5, min_faults=12)
    result = Soak(fleet, broker, plan).run()
    print(f"soak: {result}")
    assert result.audit is not None
    assert len(result.audit.kiosk_events) == plan.kiosks
    assert result.acknowledged > 500
    assert result.audit.acknowledged == result.acknowledged
    assert sum(result.faults.values()) >= plan.min_faults
    assert set(result.faults) == set(FAULTS)


@pytest.mark.soak
@pytest.mark.timeout(7200)
def test_long_soak(fleet: Fleet, broker: Broker) -> None:
    plan = SoakPlan(
        members=200,
        duration_s=float(os.environ.get("TAPFLEET_SOAK_S", "900")),
        fault_every_s=3.0,
        seed=int(os.environ.get("TAPFLEET_SOAK_SEED", "20260102")),
    )
    result = Soak(fleet, broker, plan).run()
    print(f"soak: {result}")
    assert result.audit is not None
    assert len(result.audit.kiosk_events) == plan.kiosks
    assert result.audit.acknowledged == result.acknowledged > 0
    assert set(result.faults) == set(FAULTS)
