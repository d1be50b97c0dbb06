"""A misbehaving network and PMS, for tests and benchmarks: an httpx transport that wraps the real one (to
the sandbox's API server) and, as a plan says, makes a request fail the way Open Dental's can.

Faults, per request:
- "unreachable": nothing listens (connection refused); the request never arrives.
- "500", "400", "429": the PMS answers that without doing anything (429 with Retry-After: 0).
- "500_after": the request is carried out, then the answer is a 500.
- "timeout_after": the request is carried out but the answer comes after the client's timeout.
- "reset_after": the request is carried out, then the connection is reset before the answer.
- "late": the request is held and the client told it timed out; it is carried out just before the next
  write request (it was slow, and landed after the client had already looked and retried).
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

Plan = Callable[[httpx.Request, int], str | None]
"""(request, its index among all requests) → the fault to inject, or None."""


class FaultyTransport(httpx.BaseTransport):
    def __init__(self, inner: httpx.BaseTransport, plan: Plan) -> None:
        self.inner = inner
        self.plan = plan
        self.requests = 0
        self.injected: list[tuple[int, str, str, str]] = []  # (index, fault, method, path)
        self.landed: list[tuple[str, str, int]] = []  # requests the PMS carried out: method, path, status
        self._held: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        index = self.requests
        self.requests += 1
        if request.method != "GET":
            for held in self._held:  # a slow write lands before the next one
                self._forward(held).close()
            self._held.clear()
        fault = self.plan(request, index)
        if fault is None:
            return self._forward(request)
        self.injected.append((index, fault, request.method, request.url.path))
        if fault == "unreachable":
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        if fault in ("500", "400", "429"):
            headers = {"Retry-After": "0"} if fault == "429" else {}
            return httpx.Response(int(fault), json=f"injected {fault}", headers=headers, request=request)
        if fault == "late":
            request.read()
            self._held.append(request)
            raise httpx.ReadTimeout("timed out", request=request)
        response = self._forward(request)
        response.close()
        if fault == "500_after":
            return httpx.Response(500, json="injected 500 after the write", request=request)
        if fault == "timeout_after":
            raise httpx.ReadTimeout("timed out", request=request)
        if fault == "reset_after":
            raise httpx.ReadError("[Errno 104] Connection reset by peer", request=request)
        raise ValueError(f"unknown fault {fault!r}")

    def _forward(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        response.read()
        if request.method != "GET":
            self.landed.append((request.method, request.url.path, response.status_code))
        return response

    def close(self) -> None:
        self.inner.close()
