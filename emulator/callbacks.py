"""Agora's Notification Center Service (NCS) for one emulator: signed callbacks posted to a URL, resent, with faults.

What is posted comes from emulator/notices.py. Each delivery's body is signed both ways (`Agora-Signature-V2`:
HMAC-SHA256, `Agora-Signature`: HMAC-SHA1, lowercase hex of the raw body, keyed with the NCS secret) and posted with
httpx. A delivery that is not answered 200 within `callback_timeout_seconds` is resent: at once, then after growing
gaps (`callback_retry_gaps_seconds`, at most 3 retries), with the same noticeId and a new notifyMs. Deliveries of one
sid go out one after another, in the order the events happened; sids go in parallel.

Faults, per callback (scripted first, then the profile's `callback.<kind>` rates):

    duplicate  the callback is delivered twice (Agora's redundant-delivery option), each copy resent on its own
    reorder    held back until the sid's next callback has gone (or `callback_reorder_seconds` passed)
    delay      held back `callback_delay_seconds` real seconds (or the scripted `delay`)
    drop       never delivered (NCS gave up on it)
    forge      a forged copy goes out beside it: a fresh noticeId and a wrong signature (signed with another secret,
               signed before its body was changed, or unsigned), posted once, as an attacker would
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import heapq
import hmac
import json
import logging
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from pydantic import SecretStr

from emulator.clock import Clock
from emulator.config import EmulatorConfig
from emulator.faults import CALLBACK_KINDS as KINDS
from emulator.notices import Callback

logger = logging.getLogger("emulator.callbacks")

FORGERIES = ("wrong_secret", "tampered", "unsigned")
_TICK_SECONDS = 0.05
_IDLE_TICK_SECONDS = 0.2
_MAX_IN_FLIGHT = 32


class CallbackError(ValueError):
    """A callback setting or fault that cannot be used."""


def sign(body: bytes, secret: str) -> dict[str, str]:
    """The two signature headers NCS sends with `body`: HMAC-SHA256 (V2) and HMAC-SHA1, lowercase hex."""
    key = secret.encode()
    return {
        "Agora-Signature-V2": hmac.new(key, body, hashlib.sha256).hexdigest(),
        "Agora-Signature": hmac.new(key, body, hashlib.sha1).hexdigest(),
    }


def shown_url(url: str | None) -> str | None:
    """The URL as the snapshot shows it: without any user:password part."""
    if url is None:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


def check_url(url: Any) -> str:
    """An http(s) URL with a host; raises `CallbackError` otherwise."""
    if not isinstance(url, str) or not url:
        raise CallbackError("url must be an http(s) URL")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CallbackError("url must be an http(s) URL")
    return url


@dataclass
class CallbackFault:
    """A scripted callback fault, taken by the next `remaining` matching callbacks."""

    kind: str
    remaining: int
    cname: str | None = None
    event_type: int | None = None
    delay: float | None = None

    def matches(self, callback: Callback) -> bool:
        """Whether this fault applies to `callback`."""
        return (self.cname is None or self.cname == callback.cname) and (
            self.event_type is None or self.event_type == callback.event_type
        )


def parse_fault(spec: dict[str, Any]) -> CallbackFault:
    """Validate a POST /_emulator/callbacks/faults body."""
    kind = spec.get("kind")
    if kind not in KINDS:
        raise CallbackError(f"kind must be one of {', '.join(KINDS)}")
    count = spec.get("count", 1)
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise CallbackError("count must be a positive integer")
    cname = spec.get("cname")
    if cname is not None and not isinstance(cname, str):
        raise CallbackError("cname must be a string")
    event_type = spec.get("eventType")
    if event_type is not None and (not isinstance(event_type, int) or isinstance(event_type, bool)):
        raise CallbackError("eventType must be an integer")
    delay = spec.get("delay")
    if delay is not None and (isinstance(delay, bool) or not isinstance(delay, int | float) or delay < 0):
        raise CallbackError("delay must be a non-negative number of seconds")
    if delay is not None and kind != "delay":
        raise CallbackError("delay is for kind delay only")
    unknown = set(spec) - {"kind", "count", "cname", "eventType", "delay"}
    if unknown:
        raise CallbackError(f"unknown fields: {', '.join(sorted(unknown))}")
    return CallbackFault(kind, count, cname, event_type, None if delay is None else float(delay))


@dataclass
class Sent:
    """What became of one callback (or of one forged copy): every answer its deliveries got."""

    callback: Callback
    forged: str | None = None
    faults: list[str] = field(default_factory=list)
    copies: int = 1
    answers: list[int | str] = field(default_factory=list)
    delivered: int = 0
    given_up: int = 0
    dropped: bool = False

    def view(self) -> dict[str, Any]:
        """One entry of GET /_emulator/callbacks."""
        cb = self.callback
        return {
            "noticeId": cb.notice_id,
            "eventType": cb.event_type,
            "cname": cb.cname,
            "sid": cb.sid,
            "uid": cb.uid,
            "sequence": cb.sequence,
            "sendts": cb.sendts,
            "forged": self.forged,
            "faults": list(self.faults),
            "copies": self.copies,
            "answers": list(self.answers),
            "delivered": self.delivered,
            "givenUp": self.given_up,
            "dropped": self.dropped,
        }


@dataclass(order=True)
class _Delivery:
    """One delivery of one copy of a callback, due at a monotonic time; `attempt` 0 is the first post."""

    due: float
    order: int
    sent: Sent = field(compare=False)
    attempt: int = field(default=0, compare=False)


class CallbackSender:
    """Where the callbacks of one emulator go, their faults, their queue, and the count of what became of them."""

    def __init__(self, config: EmulatorConfig, clock: Clock, new_id: Callable[[], str]) -> None:
        self.config = config
        self.clock = clock
        self._new_id = new_id
        self._url: str | None = None
        self._secret: SecretStr | None = None
        self.enabled_at = clock.now()
        self._order = 0
        self._reset()
        self._task: asyncio.Task[None] | None = None
        self._http: httpx.AsyncClient | None = None
        self._http_tls = False
        self._old_clients: list[httpx.AsyncClient] = []
        self._wake: asyncio.Event | None = None
        self._posts: set[asyncio.Task[None]] = set()
        if config.callback_url is not None:
            self.configure(config.callback_url, config.callback_secret)

    def _reset(self) -> None:
        self._queue: list[_Delivery] = []
        self._held: dict[str, tuple[_Delivery, float]] = {}
        self._lanes: dict[str, asyncio.Lock] = {}
        self._scripted: list[CallbackFault] = []
        self._rates: dict[str, float] = {}
        self._rng = random.Random(f"callbacks-{self.config.seed}")
        self.log: list[Sent] = []
        self.counts: Counter[str] = Counter()
        self.fault_counts: Counter[str] = Counter()

    # ------------------------------------------------------------------------------------------- settings
    @property
    def enabled(self) -> bool:
        """Whether callbacks are posted (a URL and a secret are set)."""
        return self._url is not None and self._secret is not None

    @property
    def url(self) -> str | None:
        """Where callbacks go, without credentials."""
        return shown_url(self._url)

    def configure(self, url: str | None, secret: SecretStr | str | None) -> None:
        """Post callbacks to `url`, signed with `secret`; `url` None turns them off and forgets what was queued."""
        if url is None:
            self._url = self._secret = None
            self._queue.clear()
            self._held.clear()
            return
        url = check_url(url)
        if isinstance(secret, str):
            secret = SecretStr(secret)
        if secret is None and self._secret is not None:
            secret = self._secret
        if secret is None or not secret.get_secret_value():
            raise CallbackError("a secret is needed to sign the callbacks")
        if self._url is None:
            self.enabled_at = self.clock.now()
        self._url, self._secret = url, secret
        self.wake()

    def wake(self) -> None:
        """Look for due callbacks now rather than at the next tick (the clock or a task changed)."""
        if self._wake is not None:
            self._wake.set()

    def inject(self, spec: dict[str, Any]) -> None:
        """Queue a scripted callback fault."""
        self._scripted.append(parse_fault(spec))

    def use_rates(self, seed: int, rates: dict[str, float]) -> None:
        """Take the profile's `callback.<kind>` probabilities (drawn from a generator of their own)."""
        self._rates = {key.partition(".")[2]: rate for key, rate in rates.items() if key.startswith("callback.")}
        self._rng = random.Random(f"callbacks-{seed}")

    def clear_faults(self) -> None:
        """Forget scripted callback faults and the profile's rates."""
        self._scripted.clear()
        self._rates = {}

    def reset(self) -> None:
        """Forget queued deliveries, faults, the log and the counters (the URL and secret stay)."""
        self._reset()

    # ------------------------------------------------------------------------------------------- submitting
    def submit(self, callback: Callback) -> None:
        """Queue a callback's delivery, through the faults it meets."""
        sent = Sent(callback)
        self.log.append(sent)
        kinds: list[tuple[str, float | None]] = []
        for fault in self._scripted:
            if fault.matches(callback):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._scripted.remove(fault)
                kinds.append((fault.kind, fault.delay))
                break
        for kind in KINDS:
            rate = self._rates.get(kind, 0.0)
            if rate > 0 and self._rng.random() < rate and kind not in (k for k, _ in kinds):
                kinds.append((kind, None))
        now = time.monotonic()
        if any(kind == "drop" for kind, _ in kinds):
            sent.dropped = True
            sent.faults.append("drop")
            self.fault_counts["drop"] += 1
            return
        due = now
        held = False
        for kind, delay in kinds:
            sent.faults.append(kind)
            self.fault_counts[kind] += 1
            if kind == "delay":
                due = now + (self.config.callback_delay_seconds if delay is None else delay)
            elif kind == "duplicate":
                sent.copies = 2
            elif kind == "forge":
                self._forge(callback, now)
            elif kind == "reorder":
                held = True
        previous = self._held.pop(callback.sid, None)
        deliveries = [self._delivery(sent, due) for _ in range(sent.copies)]
        if held:
            self._held[callback.sid] = (deliveries.pop(), now + self.config.callback_reorder_seconds)
        for delivery in deliveries:
            heapq.heappush(self._queue, delivery)
        if previous is not None:
            # The held callback goes right behind the one that overtook it.
            heapq.heappush(self._queue, self._delivery(previous[0].sent, max(due, now)))

    def _delivery(self, sent: Sent, due: float, attempt: int = 0) -> _Delivery:
        self._order += 1
        return _Delivery(due, self._order, sent, attempt)

    def _forge(self, genuine: Callback, now: float) -> None:
        """A forged callback beside a genuine one: same event, fresh noticeId, a signature that cannot verify."""
        forged = Callback(
            self._new_id(),
            genuine.event_type,
            genuine.cname,
            genuine.sid,
            genuine.uid,
            genuine.sequence,
            genuine.sendts,
            genuine.details,
        )
        sent = Sent(forged, forged=self._rng.choice(FORGERIES))
        self.log.append(sent)
        heapq.heappush(self._queue, self._delivery(sent, now))

    # ------------------------------------------------------------------------------------------- delivering
    async def start(self, produce: Callable[[], list[Callback]]) -> None:
        """Start the background task that collects due callbacks with `produce` and posts them."""
        if self._task is not None:
            return
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._run(produce), name="emulator-callbacks")

    async def stop(self) -> None:
        """Stop posting: the background task and every delivery in flight end; the queue is kept."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        posts = list(self._posts)
        for post in posts:
            post.cancel()
        for post in posts:
            with contextlib.suppress(asyncio.CancelledError):
                await post
        for client in [*self._old_clients, *([self._http] if self._http is not None else [])]:
            await client.aclose()
        self._old_clients.clear()
        self._http = None

    async def _run(self, produce: Callable[[], list[Callback]]) -> None:
        assert self._wake is not None
        while True:
            pause = _IDLE_TICK_SECONDS
            if self.enabled:
                try:
                    for callback in produce():
                        self.submit(callback)
                    pause = self._dispatch(time.monotonic())
                except Exception:  # the emulator must keep answering its API even if a callback cannot be built
                    logger.exception("callbacks: a round failed")
            self._wake.clear()
            # asyncio.timeout, not wait_for: in 3.11 wait_for can swallow a cancellation that meets a wake-up.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(pause):
                    await self._wake.wait()

    def _dispatch(self, now: float) -> float:
        """Post every delivery due by `now`; returns how long the loop may wait before the next one is due."""
        pause = _TICK_SECONDS
        for sid, (delivery, release_at) in list(self._held.items()):
            if release_at <= now:
                del self._held[sid]
                heapq.heappush(self._queue, self._delivery(delivery.sent, now))
            else:
                pause = min(pause, release_at - now)
        while self._queue and self._queue[0].due <= now:
            delivery = heapq.heappop(self._queue)
            post = asyncio.create_task(self._post(delivery))
            self._posts.add(post)
            post.add_done_callback(self._posts.discard)
        if self._queue:
            pause = min(pause, self._queue[0].due - now)
        return max(pause, 0.0)

    async def _post(self, delivery: _Delivery) -> None:
        sent = delivery.sent
        lane = self._lanes.setdefault(sent.callback.sid, asyncio.Lock()) if sent.forged is None else None
        async with lane if lane is not None else contextlib.nullcontext():
            outcome = await self._send(sent)
        sent.answers.append(outcome)
        if outcome == 200:
            sent.delivered += 1
            self.counts["delivered"] += 1
            return
        self.counts["refused" if isinstance(outcome, int) else outcome] += 1
        if sent.forged is not None:
            return
        gaps = self.config.callback_retry_gaps_seconds
        if delivery.attempt < len(gaps):
            self.counts["resent"] += 1
            due = time.monotonic() + gaps[delivery.attempt]
            heapq.heappush(self._queue, self._delivery(sent, due, delivery.attempt + 1))
            self.wake()
            return
        sent.given_up += 1
        self.counts["failed"] += 1
        logger.info(
            "callback %s (event %d) given up after %d deliveries",
            sent.callback.notice_id,
            sent.callback.event_type,
            len(gaps) + 1,
        )

    async def _send(self, sent: Sent) -> int | str:
        """Post one delivery; its HTTP status, or "timeout" / "error"."""
        url, secret = self._url, self._secret
        if url is None or secret is None:
            return "error"
        http = self._client(url)
        body = json.dumps(sent.callback.envelope(int(self.clock.now() * 1000)), separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json"}
        if sent.forged == "wrong_secret":
            headers.update(sign(body, "not-" + secret.get_secret_value()))
        elif sent.forged == "tampered":
            headers.update(sign(body, secret.get_secret_value()))
            body = body.replace(b'"productId":3', b'"productId":3 ', 1)
        elif sent.forged is None:
            headers.update(sign(body, secret.get_secret_value()))
        self.counts["sent"] += 1
        try:
            answer = await http.post(url, content=body, headers=headers)
        except httpx.TimeoutException:
            return "timeout"
        except httpx.HTTPError as exc:
            logger.info("callback %s not delivered: %s", sent.callback.notice_id, type(exc).__name__)
            return "error"
        return answer.status_code

    def _client(self, url: str) -> httpx.AsyncClient:
        """The HTTP client, made on first use: loading the CA certificates costs 0.1 s, and plain http needs none."""
        tls = urlsplit(url).scheme == "https"
        if self._http is None or self._http_tls != tls:
            old, self._http, self._http_tls = self._http, None, tls
            if old is not None:
                self._old_clients.append(old)
            self._http = httpx.AsyncClient(
                timeout=self.config.callback_timeout_seconds,
                verify=tls,
                limits=httpx.Limits(max_connections=_MAX_IN_FLIGHT, max_keepalive_connections=_MAX_IN_FLIGHT),
            )
        return self._http

    # ------------------------------------------------------------------------------------------- reading
    def pending(self) -> int:
        """Deliveries queued or held, not yet posted."""
        return len(self._queue) + len(self._held)

    def snapshot(self) -> dict[str, Any]:
        """The callback counters of the state snapshot."""
        return {
            "callbacksSent": self.counts["sent"],
            "callbacksDelivered": self.counts["delivered"],
            "callbacksFailed": self.counts["failed"],
            "callbacksResent": self.counts["resent"],
            "callbacksPending": self.pending(),
            "callbackFaults": {kind: self.fault_counts[kind] for kind in KINDS},
        }

    def view(self, cname: str | None = None) -> dict[str, Any]:
        """GET /_emulator/callbacks: where they go (never the secret), the counters and every callback's fate."""
        return {
            "enabled": self.enabled,
            "url": self.url,
            "rates": dict(self._rates),
            "pendingFaults": [
                {"kind": f.kind, "remaining": f.remaining, "cname": f.cname, "eventType": f.event_type}
                for f in self._scripted
            ],
            **self.snapshot(),
            "notices": [s.view() for s in self.log if cname is None or s.callback.cname == cname],
        }
