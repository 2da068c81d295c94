"""Operator-wide options: default images and the timing of reshard steps."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from statsd_operator.shardconfig import DEFAULT_STATSD_IMAGE, DEFAULT_TELEGRAF_IMAGE


@dataclasses.dataclass(frozen=True)
class Options:
    """Settings shared by every StatsdCluster that one operator process serves."""

    statsd_image: str = DEFAULT_STATSD_IMAGE
    telegraf_image: str = DEFAULT_TELEGRAF_IMAGE
    # Minimum time between writing a ring with new members and its switch time.
    ring_lead: timedelta = timedelta(seconds=5)
    # Extra wait after the drain of leaving shards, before the StatefulSet shrinks.
    drain_margin: timedelta = timedelta(seconds=2)
    # How often to look again while waiting for pods to become Ready.
    poll_interval: timedelta = timedelta(seconds=5)
    # How often every cluster is reconciled without any change to it, which
    # picks up new pod IPs and repairs edited or deleted children.
    resync_interval: timedelta = timedelta(seconds=15)
