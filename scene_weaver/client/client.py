"""``SceneWeaverClient``: the HTTP API from Python, what the CLI is built on.

One ``httpx.Client`` with bounded timeouts and connection retries. Tokens come from a
``TokenStore``: an access token near its expiry is refreshed first, and a ``token_expired``
answer is refreshed and sent again once. Every error answer becomes an ``ApiError`` with the
API's code; an unreachable server, a timeout or a 5xx becomes ``ServerUnavailable``.
Live events come from ``events()``, which reconnects after a dropped connection and resumes
after the last event id it saw (``Last-Event-ID``), as a browser's EventSource does.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypedDict, cast

import httpx
from httpx_sse import SSEError, connect_sse

from .errors import ApiError, NotLoggedIn, ServerUnavailable
from .tokens import Credentials, TokenStore

__all__ = ["SceneWeaverClient", "StreamEvent", "Record", "JobRecord", "BatchRecord", "ResultLine",
           "JOB_FINISHED", "BATCH_FINISHED"]

JOB_FINISHED = frozenset({"succeeded", "failed", "canceled"})
BATCH_FINISHED = frozenset({"completed", "failed", "canceled"})
_REFRESH_MARGIN = 30.0  # refresh an access token this many seconds before it expires
_UNAVAILABLE = frozenset({502, 503, 504})


class JobRecord(TypedDict, total=False):
    job_id: str
    status: str
    progress: int
    priority: str
    created_at: str
    finished_at: str | None
    scene: dict[str, Any]
    prompt: dict[str, Any] | None
    result: dict[str, Any] | None
    error: dict[str, Any] | None
    links: dict[str, str]
    batch_id: str
    index: int


class RequestCounts(TypedDict, total=False):
    total: int
    queued: int
    running: int
    succeeded: int
    failed: int
    canceled: int
    deduplicated: int


class BatchRecord(TypedDict, total=False):
    batch_id: str
    status: str
    created_at: str
    completed_at: str | None
    priority: str
    style: str | None
    warnings: list[dict[str, Any]]
    request_counts: RequestCounts
    links: dict[str, str]


class ResultLine(TypedDict, total=False):
    index: int
    entry_id: str | None
    job_id: str
    status: str
    image_url: str | None
    error: dict[str, Any] | None


@dataclass(frozen=True)
class StreamEvent:
    """One Server-Sent Event: ``id`` (to resume after), ``type`` and its JSON ``data``."""

    id: str | None
    type: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Record:
    """A job or a batch, as ``status`` found it."""

    kind: Literal["job", "batch"]
    data: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.data.get("job_id" if self.kind == "job" else "batch_id"))

    @property
    def finished(self) -> bool:
        return self.data.get("status") in (JOB_FINISHED if self.kind == "job" else BATCH_FINISHED)


def _error_of(response: httpx.Response) -> ApiError:
    try:
        body = response.json()
        error = body["error"]
        code, message, details = str(error["code"]), str(error["message"]), error.get("details")
    except (ValueError, KeyError, TypeError):
        code, message, details = f"http_{response.status_code}", response.reason_phrase or "error", None
    if response.status_code in _UNAVAILABLE or response.status_code >= 500:  # noqa: PLR2004
        return ServerUnavailable(response.status_code, code, message, details)
    return ApiError(response.status_code, code, message, details)


class SceneWeaverClient:
    """The API at ``url`` (``http://host:port``), as the user whose tokens ``tokens`` holds."""

    def __init__(self, url: str, *, tokens: TokenStore | None = None, timeout: float = 30.0,
                 stream_read_timeout: float = 60.0, max_reconnects: int = 8,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.url = url.rstrip("/")
        self.tokens = tokens or TokenStore()
        self.stream_read_timeout = stream_read_timeout
        self.max_reconnects = max_reconnects
        self._sleep = sleep
        self._http = httpx.Client(base_url=self.url, timeout=httpx.Timeout(timeout, connect=5.0),
                                  transport=httpx.HTTPTransport(retries=2),
                                  headers={"User-Agent": "scene-weaver-client"})

    def __enter__(self) -> SceneWeaverClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # auth --------------------------------------------------------------------------------

    def login(self, username: str, password: str) -> Credentials:
        body = self._send("POST", "/v1/auth/login", auth=False, json={"username": username, "password": password})
        credentials = Credentials(self.url, username, body["access_token"], body["refresh_token"],
                                  time.time() + float(body.get("expires_in", 900)))
        self.tokens.save(credentials)
        return credentials

    def refresh(self) -> Credentials:
        stored = self._credentials()
        try:
            body = self._send("POST", "/v1/auth/refresh", auth=False,
                              headers={"Authorization": f"Bearer {stored.refresh_token}"})
        except ApiError as exc:
            if exc.http_status == 401:  # noqa: PLR2004
                raise NotLoggedIn(f"the session at {self.url} has ended ({exc.code}): log in again") from exc
            raise
        credentials = Credentials(self.url, stored.username, body["access_token"], stored.refresh_token,
                                  time.time() + float(body.get("expires_in", 900)))
        self.tokens.save(credentials)
        return credentials

    def logout(self) -> None:
        stored = self.tokens.load(self.url)
        if stored is not None:
            for token in (stored.access_token, stored.refresh_token):
                try:
                    self._send("POST", "/v1/auth/logout", auth=False, headers={"Authorization": f"Bearer {token}"})
                except ApiError as exc:
                    if exc.http_status != 401:  # noqa: PLR2004 - an expired token needs no revoking
                        raise
        self.tokens.forget(self.url)

    def _credentials(self) -> Credentials:
        stored = self.tokens.load(self.url)
        if stored is None:
            raise NotLoggedIn(f"not logged in to {self.url}: run `scene-weaver login --url {self.url}`")
        return stored

    def _access_token(self) -> str:
        stored = self._credentials()
        if stored.access_expires_at - _REFRESH_MARGIN <= time.time():
            stored = self.refresh()
        return stored.access_token

    # requests ----------------------------------------------------------------------------

    def _request(self, method: str, path: str, *, auth: bool = True, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", None) or {})
        for attempt in range(2):
            if auth:
                headers["Authorization"] = f"Bearer {self._access_token()}"
            try:
                response = self._http.request(method, path, headers=headers, **kwargs)
            except httpx.TransportError as exc:
                raise ServerUnavailable(0, "server_unavailable", f"cannot reach {self.url}: {exc}") from exc
            if response.is_success:
                return response
            error = _error_of(response)
            if auth and attempt == 0 and error.code == "token_expired":
                self.refresh()
                continue
            raise error
        raise AssertionError("unreachable")

    def _send(self, method: str, path: str, *, auth: bool = True, **kwargs: Any) -> dict[str, Any]:
        return cast(dict[str, Any], self._request(method, path, auth=auth, **kwargs).json())

    # jobs and batches --------------------------------------------------------------------

    def process(self, scene: Mapping[str, Any], *, idempotency_key: str | None = None) -> JobRecord:
        """Submit one scene (a ``POST /v1/process`` body) as a job; the accepted job."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return cast(JobRecord, self._send("POST", "/v1/process", json=dict(scene), headers=headers))

    def batch(self, script: str | None = None, *, entries: list[Mapping[str, Any]] | None = None,
              idempotency_key: str | None = None, **options: Any) -> BatchRecord:
        """Submit a whole script (or a list of scenes) as a batch; ``options``: format, strict, style,
        priority, webhook_url, force (None values are left out)."""
        body: dict[str, Any] = {"script": script} if entries is None else {"entries": [dict(e) for e in entries]}
        body.update({name: value for name, value in options.items() if value is not None})
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return cast(BatchRecord, self._send("POST", "/v1/batch", json=body, headers=headers))

    def job(self, job_id: str) -> JobRecord:
        return cast(JobRecord, self._send("GET", f"/v1/jobs/{job_id}"))

    def get_batch(self, batch_id: str) -> BatchRecord:
        return cast(BatchRecord, self._send("GET", f"/v1/batches/{batch_id}"))

    def status(self, ident: str) -> Record:
        """The job or the batch with this id (a job is looked for first)."""
        try:
            return Record("job", dict(self.job(ident)))
        except ApiError as exc:
            if exc.http_status != 404:  # noqa: PLR2004
                raise
        try:
            return Record("batch", dict(self.get_batch(ident)))
        except ApiError as exc:
            if exc.http_status == 404:  # noqa: PLR2004
                raise ApiError(404, "not_found", f"no job or batch {ident}") from exc
            raise

    def cancel(self, ident: str) -> Record:
        record = self.status(ident)
        path = f"/v1/jobs/{ident}/cancel" if record.kind == "job" else f"/v1/batches/{ident}/cancel"
        return Record(record.kind, self._send("POST", path))

    def items(self, batch_id: str, *, status: str | None = None, limit: int = 100) -> Iterator[JobRecord]:
        """Every item (job record with ``index``) of the batch, in pages."""
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": limit}
            if status:
                params["status"] = status
            if cursor:
                params["cursor"] = cursor
            page = self._send("GET", f"/v1/batches/{batch_id}/items", params=params)
            yield from cast(list[JobRecord], page.get("items") or [])
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def results(self, batch_id: str) -> list[ResultLine]:
        """The batch's results file: one line per entry, in script order."""
        text = self._request("GET", f"/v1/batches/{batch_id}/results").text
        return [cast(ResultLine, json.loads(line)) for line in text.splitlines() if line.strip()]

    def image(self, job_id_or_url: str) -> bytes:
        """A job's picture, by job id or by an ``image_url`` the API gave."""
        path = job_id_or_url if job_id_or_url.startswith("/") else f"/v1/jobs/{job_id_or_url}/image"
        return self._request("GET", path).content

    def save_image(self, job_id_or_url: str, path: Path) -> Path:
        path.write_bytes(self.image(job_id_or_url))
        return path

    # live events -------------------------------------------------------------------------

    def events(self, ident: str, *, kind: Literal["job", "batch"] = "job",
               last_event_id: str | None = None) -> Iterator[StreamEvent]:
        """The job's or batch's live events until it finishes, resuming after a dropped connection."""
        path = f"/v1/jobs/{ident}/events" if kind == "job" else f"/v1/batches/{ident}/events"
        last, failures = last_event_id, 0
        while True:
            try:
                for event in self._stream(path, last):
                    failures = 0
                    if event.id:
                        last = event.id
                    yield event
                    if _ends(kind, event):
                        return
            except (httpx.TransportError, SSEError) as exc:
                failures += 1
                if failures > self.max_reconnects:
                    raise ServerUnavailable(0, "server_unavailable",
                                            f"the event stream of {ident} kept dropping: {exc}") from exc
                self._sleep(min(0.5 * 2 ** (failures - 1), 8.0))
                continue
            # The server ended the stream without a final event (its STREAM_MAX_SECONDS, or a
            # Redis hiccup): the record says whether there is anything left to wait for.
            record = self.job(ident) if kind == "job" else self.get_batch(ident)
            if record.get("status") in (JOB_FINISHED if kind == "job" else BATCH_FINISHED):
                return
            failures += 1
            if failures > self.max_reconnects:
                raise ServerUnavailable(0, "server_unavailable", f"the event stream of {ident} keeps ending early")
            self._sleep(min(0.5 * 2 ** (failures - 1), 8.0))

    def _stream(self, path: str, last: str | None) -> Iterator[StreamEvent]:
        for attempt in range(2):
            headers = {"Authorization": f"Bearer {self._access_token()}", "Accept": "text/event-stream"}
            if last:
                headers["Last-Event-ID"] = last
            timeout = httpx.Timeout(self.stream_read_timeout, connect=5.0)
            with connect_sse(self._http, "GET", path, headers=headers, timeout=timeout) as source:
                response = source.response
                if not response.is_success:
                    response.read()
                    error = _error_of(response)
                    if attempt == 0 and error.code == "token_expired":
                        self.refresh()
                        continue
                    raise error
                for sse in source.iter_sse():
                    if not sse.data and not sse.id:
                        continue  # a `retry:` field alone
                    try:
                        data = json.loads(sse.data) if sse.data else {}
                    except ValueError:
                        data = {"raw": sse.data}
                    yield StreamEvent(sse.id or None, sse.event or "message",
                                      data if isinstance(data, dict) else {"value": data})
                return


def _ends(kind: str, event: StreamEvent) -> bool:
    if kind == "job":
        return event.data.get("status") in JOB_FINISHED
    if event.type == "completed":
        return True
    return event.type in BATCH_FINISHED or (event.type == "batch" and event.data.get("status") in BATCH_FINISHED)
