"""The kinds of job the app runs, and the job API over them.

To add a kind: declare its `Kind` in a module of its family and list it here.
"""

from __future__ import annotations

import functools

from shared.jobapi import JobApi

from . import batch, orders, reports, sensitive, thumbnails
from .kind import Kind
from .services import services
from .tickets import enqueue

KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (orders.KIND, batch.KIND, thumbnails.KIND, reports.KIND, sensitive.KIND)
}


@functools.cache
def job_api() -> JobApi:
    """Submit, read, cancel and list jobs of the kinds above."""
    s = services()
    return JobApi(s.status, s.ledger, {n: k.for_api(enqueue) for n, k in KINDS.items()})
