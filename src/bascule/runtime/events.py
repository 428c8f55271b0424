"""The gateway's event bus: something happened to an API (a host went down, a request was refused), and
whoever listens (webhooks, log handlers) hears it.

Publishing never waits and never fails: `publish` hands the event to each listener, and a listener only
schedules its work (a webhook delivery is a background task). A listener that raises is logged and the
others still hear the event. Events are plain data, so a new kind (AuthFailure, ...) needs no change here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

log = logging.getLogger("bascule.events")

HOST_DOWN = "HostDown"
HOST_UP = "HostUp"


@dataclass(frozen=True, slots=True)
class Event:
    """One occurrence of event `name` for API `api_id`.

    `meta` is what templates see under `.Meta` (Tyk's names: `Message`, `HostInfo`, `Path`, `Origin`,
    `Key`, ...); `at` is wall-clock seconds.
    """

    name: str
    api_id: str
    org_id: str
    message: str
    at: float
    meta: Mapping[str, object] = field(default_factory=dict)


EventListener = Callable[[Event], None]


class EventBus:
    __slots__ = ("_listeners",)

    def __init__(self) -> None:
        self._listeners: list[EventListener] = []

    def subscribe(self, listener: EventListener) -> None:
        self._listeners.append(listener)

    def publish(self, event: Event) -> None:
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:
                log.exception("event %s of API %s: a listener failed", event.name, event.api_id)
