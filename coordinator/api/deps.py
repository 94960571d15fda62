"""What every router depends on: the coordinator this app serves and the caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from coordinator.errors import ApiError
from coordinator.runtime import Coordinator
from coordinator.security.auth import Principal, active_principal

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


def get_coordinator(request: Request) -> Coordinator:
    """The coordinator this app serves."""
    coordinator: Coordinator = request.app.state.coordinator
    return coordinator


def get_principal(request: Request, token: Annotated[str | None, Depends(oauth2)]) -> Principal:
    """The authenticated caller: a bearer token, else the dashboard's session cookie."""
    if not token:
        from coordinator.security.page_sessions import principal_from_session

        principal = principal_from_session(request)
        if principal is not None:
            return principal
        raise ApiError(
            401,
            "not_authenticated",
            "log in first: POST /api/v1/auth/token, then send 'Authorization: Bearer <token>'",
        )
    coordinator = get_coordinator(request)
    return active_principal(
        coordinator.db,
        coordinator.settings.secret_key.get_secret_value(),
        token,
        coordinator.clock.wall_ms(),
    )


CoordinatorDep = Annotated[Coordinator, Depends(get_coordinator)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
