"""The port is open from the first second: probes answered before the engine has imported."""

import http.client
import json
import socket

import pytest

from engine.serve.early import EarlyServer, bind


def _get(port: int, path: str) -> tuple[int, dict, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, json.loads(r.read()), r.getheader("Retry-After")
    finally:
        conn.close()


def test_healthz_answers_and_everything_else_says_not_ready_until_the_engine_takes_over():
    sock = bind("127.0.0.1", 0, 16)
    port = sock.getsockname()[1]
    early = EarlyServer(sock).start()
    try:
        assert _get(port, "/healthz")[:2] == (200, {"ok": True})
        status, body, retry = _get(port, "/readyz")
        assert status == 503 and body["error"]["code"] == "not_ready" and retry == "1"
        for path in ("/v1/models", "/v1/jobs/x", "/healthz/x"):  # unanswered, as if not listening yet
            with pytest.raises(http.client.RemoteDisconnected):
                _get(port, path)
    finally:
        early.stop()
        early.stop()  # again: nothing
    # The engine's socket still listens: a client connecting now waits in the queue, not refused.
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass
    sock.close()
