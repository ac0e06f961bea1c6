"""`funchost.testing`: run an Azure Functions app in-process for its tests.

This room may import every other room of funchost; nothing in funchost imports it.

`Harness` (or `running_host`) starts the real host for an app folder in the test's own
process, on a free port, and drives its triggers: HTTP requests, queue and Service Bus
messages, blob uploads, timers fired now. It waits until the host is idle and returns
each invocation's outcome and log lines. `funchost.testing.plugin` is a pytest plugin
(registered under the `pytest11` entry point) with session fixtures for Azurite and the
Service Bus emulator and a `funchost` fixture that starts hosts wired to them.
"""

from funchost.testing.harness import Harness, running_host
from funchost.testing.recorder import InvocationRecord

__all__ = ["Harness", "InvocationRecord", "running_host"]
