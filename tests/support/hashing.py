"""The cheap password-hash cost the test suite uses, so thousands of logins stay fast.

Production cost (``shared.password_hash.RECOMMENDED``) takes about 0.2 s per hash; tests
that are about hashing itself (``tests/security/test_password_hash.py``, ``--hash-pin``)
use it on purpose. Everything else hashes at this cost: PIN hashes made by the tests, and
coordinators (in-process or child processes) through ``TAPFLEET_COORD_PASSWORD_HASH``,
which ``tests/conftest.py`` sets for the whole run.
"""

from __future__ import annotations

from shared.password_hash import ScryptCost

TEST_HASH_COST = ScryptCost(log2_n=10, r=8, p=1)
"""1 MiB and about 2 ms per hash."""

COORDINATOR_COST_ENV = "TAPFLEET_COORD_PASSWORD_HASH"
"""The coordinator setting ``password_hash`` as an environment variable (JSON)."""


def coordinator_cost_env() -> dict[str, str]:
    """The cheap cost for a child coordinator whose environment is rebuilt from scratch
    (``simulators.services.CoordinatorProcess(env=...)``)."""
    return {COORDINATOR_COST_ENV: TEST_HASH_COST.model_dump_json()}
