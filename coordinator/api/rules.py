"""Rule bundles (draft, publish with a per-store scope) and QR key rotation."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from coordinator.api.answers import USER, answers
from coordinator.api.deps import CoordinatorDep, PrincipalDep
from coordinator.services import rules
from coordinator.services.common import MAX_ROW_ID
from coordinator.services.rules import BundleOut, Draft, Publish, Rotate, Rotation
from shared.model import Id, RuleBundle

router = APIRouter(prefix="/api/v1", tags=["rules"], responses=USER)
BundlePath = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]


@router.get("/rule-bundles")
def list_bundles(
    coord: CoordinatorDep,
    principal: PrincipalDep,
    status: Annotated[Literal["draft", "published"] | None, Query()] = None,
) -> list[BundleOut]:
    """Bundles, newest first (a store manager sees chain-wide ones and their store's)."""
    return rules.list_bundles(coord, principal, status)


@router.post("/rule-bundles", status_code=201, responses=answers(404))
def create_bundle(coord: CoordinatorDep, principal: PrincipalDep, body: Draft) -> BundleOut:
    """Save a draft bundle."""
    return rules.create_bundle(coord, principal, body)


@router.get("/rule-bundles/current", responses=answers(404))
def current_bundle(
    coord: CoordinatorDep, principal: PrincipalDep, store_id: Annotated[Id, Query()]
) -> RuleBundle:
    """The bundle a store's kiosks should run now."""
    return rules.current_bundle(coord, principal, store_id)


@router.get("/rule-bundles/{bundle_id}", responses=answers(404))
def get_bundle(coord: CoordinatorDep, principal: PrincipalDep, bundle_id: BundlePath) -> BundleOut:
    """One bundle."""
    return rules.get_bundle(coord, principal, bundle_id)


@router.post("/rule-bundles/{bundle_id}/publish", responses=answers(404, 409))
def publish_bundle(
    coord: CoordinatorDep,
    principal: PrincipalDep,
    bundle_id: BundlePath,
    body: Publish | None = None,
) -> BundleOut:
    """Publish a draft under the next version and push it to the stores in scope."""
    return rules.publish_bundle(coord, principal, bundle_id, body)


@router.post("/qr-keys/rotate", responses=answers(503))
def rotate_qr_key(
    coord: CoordinatorDep, principal: PrincipalDep, body: Rotate | None = None
) -> Rotation:
    """Rotate the member QR signing key without breaking kiosks that are offline a while.

    The new key is published at once (the bundles in force are republished) but signs only
    from ``switch_ms`` = now + ``announce_s``; until then the current key signs, and codes
    it signed stay valid until ``old_key_valid_until_ms`` = switch + ``overlap_s``.
    """
    return rules.rotate_qr_key(coord, principal, body)
