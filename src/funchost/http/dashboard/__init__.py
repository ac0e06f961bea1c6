"""The operator's dashboard at `/admin/dashboard`: functions and their recent invocations,
jobs with their progress, queues with their poison counts, Service Bus entities with their
dead letters, timers and their lock holder; buttons to replay or purge failed messages and
to run a function now; live updates over server-sent events.

Server-rendered HTML (`render`), one small hand-written script and a style sheet
(`static/`), no build step and nothing fetched at run time. The data comes from the host
(`snapshot`), the storage accounts and namespaces its triggers read (`sources`), and the
jobs library when the app uses it (`library`).
"""

from funchost.http.dashboard.app import Dashboard

__all__ = ["Dashboard"]
