"""The monitor's schedule inside ``shipline serve``: collect, record, alert."""

from __future__ import annotations

import logging

from shipline.errors import ShiplineError
from shipline.pipeline import Pipeline
from shipline.server.worker import Worker

log = logging.getLogger(__name__)


class MonitorLoop(Worker):
    """Calls ``pipeline.monitor_tick()`` every ``interval`` seconds on a thread.

    The first tick runs in ``start`` so a broken rules file stops the server at
    once, with the rule and line in the message; later failures are logged and the
    loop goes on, because monitoring must not take ingestion down with it. Among
    several workers only the leading one ticks (``Pipeline.leads``), so metrics are
    recorded and alerts sent once; the others check the rules and stand by.
    """

    thread_name = "shipline-monitor"
    stop_timeout = 10.0

    def __init__(self, pipeline: Pipeline, interval: float) -> None:
        super().__init__()
        self.pipeline = pipeline
        self.interval = interval

    def start(self) -> None:
        """Tick once now (errors propagate), then on the schedule."""
        self._tick()
        super().start()

    def _tick(self) -> None:
        if self.pipeline.leads():
            self.pipeline.monitor_tick()
        else:
            self.pipeline.alert_rules()  # a broken rules file is still reported

    def run(self) -> None:
        while not self._sleep(self.interval):
            try:
                self._tick()
            except ShiplineError as error:
                log.error("monitor tick failed: %s", error)
            except Exception:
                log.exception("monitor tick failed")
