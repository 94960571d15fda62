"""Logging in (OAuth2 password flow) and managing ops users."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm

from coordinator.api.answers import USER, answers
from coordinator.api.deps import CoordinatorDep, PrincipalDep
from coordinator.security.login_limit import client_address
from coordinator.services import users
from coordinator.services.users import Me, NewUser, TokenOut, UserOut

router = APIRouter(prefix="/api/v1", tags=["auth"])


@router.post("/auth/token", responses=answers(401, 422, 429))
def login(
    request: Request,
    coord: CoordinatorDep,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
) -> TokenOut:
    """Exchange a username and password for a bearer token (failed attempts are limited)."""
    return users.login(coord, form.username, form.password, client_address(request))


@router.get("/auth/me", responses=USER)
def me(principal: PrincipalDep) -> Me:
    """Who the token belongs to."""
    return users.me(principal)


@router.post("/users", status_code=201, responses={**USER, **answers(404, 409)})
def create_user(coord: CoordinatorDep, principal: PrincipalDep, body: NewUser) -> UserOut:
    """Create an ops user (HQ admins only). Store managers need their store."""
    return users.create_user(coord, principal, body)


@router.get("/users", responses=USER)
def list_users(coord: CoordinatorDep, principal: PrincipalDep) -> list[UserOut]:
    """Every ops user (HQ admins only)."""
    return users.list_users(coord, principal)


@router.post("/users/{username}/disable", responses={**USER, **answers(404, 409)})
def disable_user(coord: CoordinatorDep, principal: PrincipalDep, username: str) -> UserOut:
    """Disable an ops user (HQ admins only): their tokens and sessions stop working at once."""
    return users.set_disabled(coord, principal, username, True)


@router.post("/users/{username}/enable", responses={**USER, **answers(404)})
def enable_user(coord: CoordinatorDep, principal: PrincipalDep, username: str) -> UserOut:
    """Enable an ops user again (HQ admins only); they log in anew."""
    return users.set_disabled(coord, principal, username, False)
