"""The door stations' HTTP endpoint: two signed POST routes on the store LAN, nothing else.

It is a separate server from the touchscreen UI on purpose: the UI (member and staff session
tokens) listens on 127.0.0.1 only, while stations reach this one over the LAN. Bodies are
read up to ``MAX_BODY_BYTES`` + 1 and the rest refused unread; the answer carries the
kiosk's MAC in ``X-Tapfleet-Mac`` when it is signed (see ``gate``).
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from device.station_gate.gate import GateAnswer, StationGate
from device.ui.server import UiServer
from shared.station_wire import HELLO_PATH, MAC_HEADER, MAX_BODY_BYTES, TAPS_PATH


def create_station_app(gate: StationGate) -> FastAPI:
    """The FastAPI app serving ``gate`` on ``TAPS_PATH`` and ``HELLO_PATH``."""
    app = FastAPI(title="Tapfleet door stations", docs_url=None, redoc_url=None, openapi_url=None)

    async def _serve(request: Request, path: str) -> Response:
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                break
        answer: GateAnswer = await run_in_threadpool(
            gate.handle, path, body, request.headers.get(MAC_HEADER)
        )
        headers = {MAC_HEADER: answer.mac} if answer.mac else {}
        return Response(answer.body, answer.status, headers, media_type="application/json")

    @app.post(TAPS_PATH)
    async def taps(request: Request) -> Response:
        return await _serve(request, TAPS_PATH)

    @app.post(HELLO_PATH)
    async def hello(request: Request) -> Response:
        return await _serve(request, HELLO_PATH)

    return app


def station_server(gate: StationGate, host: str, port: int) -> UiServer:
    """The endpoint's server (start/stop it like the UI server)."""
    return UiServer(
        create_station_app(gate),
        host,
        port,
        name="the door-station endpoint",
        setting="stations.port",
    )
