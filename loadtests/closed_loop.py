"""Clients against the gateway, closed-loop or paced: the reliability run and the soak.

Each client sends GET /recommend for a known user and, for a share of requests, POST
/interactions with a fresh item id; every answer (status 0 = none within the timeout) and
every acknowledged interaction is kept with its time. ReadinessPolls asks /readyz beside them.
"""

from __future__ import annotations

import json
import random
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

FRESH_ITEM_BASE = 2_000_000_000  # never a catalogue id: each recorded interaction is new


@dataclass(frozen=True)
class Sample:
    at: float
    kind: str  # "recommend" | "interaction"
    status: int  # 0: no answer
    latency_s: float

    @property
    def sent(self) -> float:
        """When the request was sent (`at` is when its answer came)."""
        return self.at - self.latency_s

    @property
    def ok(self) -> bool:
        return self.status in (200, 201)


class Load:
    """Closed-loop clients against the gateway; every sample and acknowledged interaction kept."""

    def __init__(
        self,
        base: str,
        users: list[int],
        clients: int,
        post_share: float,
        timeout: float,
        rate: float | None = None,
    ):
        """`rate`: requests/s over all clients, paced (a client that falls behind skips the
        missed slots rather than bursting); None: each client sends as fast as answers come."""
        self.base, self.users, self.clients = base, users, clients
        self.post_share, self.timeout = post_share, timeout
        self.interval_s = clients / rate if rate else 0.0
        self.samples: list[Sample] = []
        self.acknowledged: list[tuple[float, int, int]] = []
        self._next_item = FRESH_ITEM_BASE + random.randrange(10_000_000)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for number in range(self.clients):
            thread = threading.Thread(target=self._run, args=(number,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.timeout + 5)

    def _fresh_item(self) -> int:
        with self._lock:
            self._next_item += 1
            return self._next_item

    def _run(self, number: int) -> None:
        chooser = random.Random(number)
        next_slot = time.monotonic() + self.interval_s * number / max(1, self.clients)
        while not self._stop.is_set():
            if self.interval_s:
                next_slot = self._wait_for_slot(next_slot)
            user = chooser.choice(self.users)
            if chooser.random() < self.post_share:
                item = self._fresh_item()
                body = json.dumps({"user_id": user, "item_id": item}).encode()
                request = urllib.request.Request(
                    f"{self.base}/interactions",
                    data=body,
                    headers={"Content-Type": "application/json"},
                )
                began = time.monotonic()
                status = self._send(request)
                if status == 201:
                    with self._lock:
                        self.acknowledged.append((began, user, item))
                kind = "interaction"
            else:
                request = urllib.request.Request(f"{self.base}/recommend?user_id={user}&k=5")
                kind = "recommend"
                began = time.monotonic()
                status = self._send(request)
            answered = time.monotonic()
            sample = Sample(answered, kind, status, answered - began)
            with self._lock:
                self.samples.append(sample)
            if not sample.ok:
                time.sleep(0.05)  # a client backs off a little on errors

    def _wait_for_slot(self, slot: float) -> float:
        """Sleeps until `slot`; returns the next one (past slots are skipped, not caught up)."""
        now = time.monotonic()
        if slot > now:
            self._stop.wait(slot - now)
            return slot + self.interval_s
        following = slot + self.interval_s
        return following if following > now else now + self.interval_s

    def _send(self, request: urllib.request.Request) -> int:
        return _status_of(request, self.timeout)


class ReadinessPolls:
    """GET /readyz every interval_s in a thread of its own; each answer kept as a Sample."""

    def __init__(self, base: str, interval_s: float = 0.05, timeout: float = 2.0) -> None:
        self.base, self.interval_s, self.timeout = base, interval_s, timeout
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.timeout + 5)

    def _run(self) -> None:
        while not self._stop.is_set():
            began = time.monotonic()
            status = _status_of(urllib.request.Request(f"{self.base}/readyz"), self.timeout)
            answered = time.monotonic()
            self.samples.append(Sample(answered, "readyz", status, answered - began))
            self._stop.wait(max(0.0, began + self.interval_s - answered))


def _status_of(request: urllib.request.Request, timeout: float) -> int:
    """The answer's status; 0 when none came within `timeout`."""
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError):
        return 0
