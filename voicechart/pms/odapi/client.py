"""A small HTTP client for Open Dental's REST API: auth, JSON, pagination, errors an office can act on."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import httpx

from voicechart.errors import (
    ConfigError,
    PmsAuthError,
    PmsError,
    PmsNotFound,
    PmsRejected,
    PmsThrottled,
    PmsUnavailable,
)

_log = logging.getLogger("voicechart.pms.api")
PAGE_SIZE = 100  # Open Dental returns at most 100 items per request (OPENDENTAL.md §4.1)
REMOTE_HOST = "api.opendental.com"
REMOTE_INTERVAL_S = 1.0
THROTTLE_RETRIES = 3


class OpenDentalApi:
    """Requests to one Open Dental API (Local API, API Service, or the remote API), with one pair of keys."""

    def __init__(
        self,
        base_url: str,
        *,
        developer_key: str,
        customer_key: str,
        timeout_s: float = 10.0,
        min_interval_s: float | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not developer_key or not customer_key:
            raise ConfigError(
                "The Open Dental API needs its keys: set VOICECHART_OD_DEVELOPER_KEY and "
                "VOICECHART_OD_CUSTOMER_KEY in the environment (never in a committed file)."
            )
        self.base_url = base_url.rstrip("/")
        # The remote API allows 1 request/s per key; the Local API and the API Service are not throttled.
        if min_interval_s is None:
            min_interval_s = REMOTE_INTERVAL_S if REMOTE_HOST in self.base_url else 0.0
        self.min_interval_s = min_interval_s
        self._pace = threading.Lock()
        self._next_allowed = 0.0
        self._http = httpx.Client(
            base_url=self.base_url + "/",
            headers={
                "Authorization": f"ODFHIR {developer_key}/{customer_key}",
                "Content-Type": "application/json",
            },
            timeout=timeout_s,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    # --- verbs ---------------------------------------------------------------------------------------------
    def get(self, path: str, **params: Any) -> Any:
        return self._request("GET", path, params=params)

    def get_all(self, path: str, **params: Any) -> list[Any]:
        """Every item of a list endpoint, page by page (Offset/Limit)."""
        items: list[Any] = []
        while True:
            page = self._request("GET", path, params={**params, "Offset": len(items), "Limit": PAGE_SIZE})
            if not isinstance(page, list):
                raise PmsError(f"Open Dental API: GET {path} did not return a list.")
            items.extend(page)
            if len(page) < PAGE_SIZE:
                return items

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self._request("POST", path, json=body)

    def put(self, path: str, body: dict[str, Any]) -> Any:
        return self._request("PUT", path, json=body)

    def delete(self, path: str) -> None:
        self._request("DELETE", path)

    # --- transport and errors ------------------------------------------------------------------------------
    def _request(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None
    ) -> Any:
        where = f"the Open Dental API at {self.base_url}"
        for _attempt in range(THROTTLE_RETRIES):
            response = self._send(method, path, params, json, where)
            if response.status_code != 429:
                break
            time.sleep(
                _retry_after(response)
            )  # a throttled request was not processed: sending it again is safe
        return self._result(method, path, response, where)

    def _send(
        self, method: str, path: str, params: dict[str, Any] | None, json: Any, where: str
    ) -> httpx.Response:
        with self._pace:  # one request at a time, no faster than the API allows
            wait = self._next_allowed - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            try:
                return self._http.request(method, path.lstrip("/"), params=params, json=json)
            except httpx.TimeoutException:
                raise PmsUnavailable(
                    f"{where} did not answer in time; the edit is kept and retried."
                ) from None
            except httpx.TransportError:
                raise PmsUnavailable(
                    f"Cannot reach {where} (is Open Dental running, and the API enabled?); the edit is kept "
                    "and retried."
                ) from None
            finally:
                self._next_allowed = time.monotonic() + self.min_interval_s

    def _result(self, method: str, path: str, response: httpx.Response, where: str) -> Any:
        status = response.status_code
        _log.debug("%s %s → %d", method, path, status)
        if status in (200, 201):
            return response.json() if response.content else None
        message = _message(response)
        if status == 400:
            raise PmsRejected(f"Open Dental refused {method} {path}: {message}")
        if status == 401:
            raise PmsAuthError(
                f"Open Dental refused the API keys ({message}). Check VOICECHART_OD_DEVELOPER_KEY and "
                "VOICECHART_OD_CUSTOMER_KEY, and that the customer key is enabled in Open Dental: Setup > "
                "Advanced Setup > API."
            )
        if status in (404, 410):
            raise PmsNotFound(f"Open Dental has no such record ({method} {path}: {message}).")
        if status == 429:
            raise PmsThrottled(
                f"{where} asks to slow down (rate limit); waiting before the next request.",
                retry_after_s=_retry_after(response),
            )
        if status == 504:
            raise PmsUnavailable(f"{where} timed out on {method} {path} (504); the edit is kept and retried.")
        raise PmsUnavailable(f"{where} answered {status} to {method} {path}; the edit is kept and retried.")


def _retry_after(response: httpx.Response) -> float:
    value = response.headers.get("Retry-After", "1")
    try:
        return max(0.0, float(value))
    except ValueError:
        return 1.0


def _message(response: httpx.Response) -> str:
    """Open Dental answers errors with a short text (a JSON string or plain text)."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300] or response.reason_phrase
    if isinstance(body, str):
        return body[:300]
    if isinstance(body, dict):
        for key in ("message", "Message", "error"):
            if key in body:
                return str(body[key])[:300]
    return str(body)[:300]
