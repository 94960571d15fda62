"""``/healthz`` and Prometheus ``/metrics``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from coordinator.api.deps import CoordinatorDep

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
def metrics(coord: CoordinatorDep) -> Response:
    """Prometheus text exposition of this coordinator's metrics."""
    coord.mqtt_connected()
    coord.metrics.queue_depth.set(coord.ingest.depth())
    return Response(generate_latest(coord.metrics.registry), media_type=CONTENT_TYPE_LATEST)
