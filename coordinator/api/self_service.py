"""Members on their own: the store's sign-up page, self sign-up and self access (public)."""

from __future__ import annotations

import html
from functools import lru_cache
from pathlib import Path as FsPath
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse

from coordinator.api.answers import answers, page_answers
from coordinator.api.deps import CoordinatorDep
from coordinator.security.login_limit import client_address
from coordinator.services import self_service
from coordinator.services.self_service import (
    AccessGranted,
    AccessProof,
    AccessRequest,
    AccessStarted,
    SignUp,
    SignUpAnswer,
)

router = APIRouter(tags=["self service"])


@lru_cache(maxsize=1)
def _join_template() -> str:
    """The sign-up page (``{{store_id}}`` and ``{{store_name}}`` filled in per store)."""
    return (FsPath(__file__).with_name("phone_assets") / "join.html").read_text(encoding="utf-8")


@router.post("/api/v1/join", responses=answers(404, 422, 429))
def join(coord: CoordinatorDep, request: Request, body: SignUp) -> SignUpAnswer:
    """Sign up from a store's poster; an existing phone answers ``verify_phone``."""
    return self_service.sign_up(coord, client_address(request), body)


@router.post("/api/v1/self-access", responses=answers(422, 429))
def self_access(coord: CoordinatorDep, request: Request, body: AccessRequest) -> AccessStarted:
    """Send a one-time code to the member holding this phone (the same answer for anyone)."""
    return self_service.start_access(coord, client_address(request), body)


@router.post("/api/v1/self-access/verify", responses=answers(403, 422, 429))
def self_access_verify(coord: CoordinatorDep, request: Request, body: AccessProof) -> AccessGranted:
    """Trade the one-time code for the member's phone card link."""
    return self_service.verify_access(coord, client_address(request), body)


@router.get("/join/{store_id}", response_class=HTMLResponse, responses=page_answers(404, 422))
def join_page(
    coord: CoordinatorDep,
    store_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:\-]{1,64}$")],
) -> HTMLResponse:
    """The sign-up page a store's poster QR opens (zh-CN/en following the browser)."""
    name = self_service.store_name(coord, store_id)
    page = (_join_template().replace("{{store_id}}", html.escape(store_id, quote=True))
            .replace("{{store_name}}", html.escape(name)))  # fmt: skip
    return HTMLResponse(page, headers={"Cache-Control": "no-store"})
