"""The monitor's schedule inside ``shipline serve``: collect, record, alert."""

from __future__ import annotations

import logging
import threading

from shipline.errors import ShiplineError
from shipline.pipeline import Pipeline

log = logging.getLogger(__name__)


class MonitorLoop:
    """Calls ``pipeline.monitor_tick()`` every ``interval`` seconds on a thread.

    The first tick runs in ``start`` so a broken rules file stops the server at
    once, with the rule and line in the message; later failures are logged and the
    loop goes on, because monitoring must not take ingestion down with it. Among
    several workers only the leading one ticks (``Pipeline.leads``), so metrics are
    recorded and alerts sent once; the others check the rules and stand by.
    """

    def __init__(self, pipeline: Pipeline, interval: float) -> None:
        self.pipeline = pipeline
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Tick once now (errors propagate), then on the schedule."""
        self._tick()
        self._thread = threading.Thread(target=self._loop, name="shipline-monitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop ticking."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def _tick(self) -> None:
        if self.pipeline.leads():
            self.pipeline.monitor_tick()
        else:
            self.pipeline.alert_rules()  # a broken rules file is still reported

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self._tick()
            except ShiplineError as error:
                log.error("monitor tick failed: %s", error)
            except Exception:
                log.exception("monitor tick failed")
