"""``/healthz`` and Prometheus ``/metrics``."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Header, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from coordinator.api.answers import answers
from coordinator.api.deps import CoordinatorDep
from coordinator.errors import ApiError
from coordinator.services import ops
from coordinator.services.ops import Health

router = APIRouter(tags=["health"])


@router.get(
    "/healthz",
    responses={503: {"model": Health, "description": "The database or the broker is down."}},
)
def healthz(coord: CoordinatorDep, response: Response) -> Health:
    """200 when the database answers (and the broker, if MQTT is enabled); 503 otherwise."""
    health = ops.health(coord)
    if health.status != "ok":
        response.status_code = 503
    return health


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus text exposition format.",
            "content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}},
        },
        **answers(401, 422),
    },
)
def metrics(
    coord: CoordinatorDep, authorization: Annotated[str | None, Header()] = None
) -> Response:
    """Prometheus text exposition of this coordinator's metrics.

    With ``metrics_token`` set, the scraper must send ``Authorization: Bearer <token>``.
    """
    expected = coord.settings.metrics_token
    if expected is not None:
        sent = (authorization or "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(sent.encode(), expected.get_secret_value().encode()):
            raise ApiError(
                401,
                "not_authenticated",
                "send the metrics token: 'Authorization: Bearer <metrics_token>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
    coord.mqtt_connected()
    coord.metrics.queue_depth.set(coord.ingest.depth())
    return Response(generate_latest(coord.metrics.registry), media_type=CONTENT_TYPE_LATEST)
