"""``/healthz`` and Prometheus ``/metrics``."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Header, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from coordinator.api.deps import CoordinatorDep
from coordinator.errors import ApiError

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(coord: CoordinatorDep, response: Response) -> dict[str, Any]:
    """200 when the database answers (and the broker, if MQTT is enabled); 503 otherwise."""
    database = coord.db.ping()
    mqtt = coord.mqtt_connected() if coord.settings.mqtt_enabled else None
    ok = database and mqtt is not False
    if not ok:
        response.status_code = 503
    return {
        "status": "ok" if ok else "degraded",
        "database": database,
        "mqtt": mqtt,
        "ingest_queue": coord.ingest.depth(),
    }


@router.get("/metrics")
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
