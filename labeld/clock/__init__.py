"""Clock drift monitoring: is this PC's clock close enough to true time for signed labels?

``ClockMonitor(config.clock, log).start()`` measures against SNTP servers and the local time
service; ``.snapshot()`` says ``ok``, ``drifting`` or ``unknown`` and ``.correction()`` gives the
seconds to add to the local clock while it drifts.
"""

from labeld.clock.local_sources import SourceReading, parse_chrony_tracking, parse_timesyncd_message
from labeld.clock.monitor import ClockMonitor, ClockSnapshot, ClockState, assess
from labeld.clock.sntp import SntpError, SntpReply, parse_server, query

__all__ = [
    "ClockMonitor",
    "ClockSnapshot",
    "ClockState",
    "SntpError",
    "SntpReply",
    "SourceReading",
    "assess",
    "parse_chrony_tracking",
    "parse_server",
    "parse_timesyncd_message",
    "query",
]
