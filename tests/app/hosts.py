"""The jobs app on the in-process host with settings of a module's own (conftest's `app`
runs it as `make run` does).

`ORDER_STEPS_OFF`: the order pipeline's four session-enabled Service Bus functions turned
off, for modules whose jobs never use them. Their listeners take 15-20 s to stop (they
return well after the host's 10 s grace, then `SETTLE_SECONDS`, while every other
listener returns at once; src/funchost/triggers/servicebus.py `_session_loop`), which
made each module's teardown the longest step of its run.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from funchost.devservices.azurite import AzuriteEndpoints
from funchost.testing import running_host
from tests.app.conftest import JobsApp, app_settings
from tests.conftest import REPO
from tests.servicebus_fixtures import ServiceBusEndpoint

ORDER_STEPS_OFF = {
    f"AzureWebJobs.order_{step}.Disabled": "true"
    for step in ("reserve", "charge", "ship", "notify")
}


@contextmanager
def jobs_app(
    azurite: AzuriteEndpoints, servicebus: ServiceBusEndpoint, settings: Mapping[str, str]
) -> Iterator[JobsApp]:
    """The app with conftest's settings and `settings` on top."""
    with running_host(REPO, settings={**app_settings(azurite, servicebus), **settings}) as host:
        yield JobsApp(host)
