"""The jobs library: small APIs over Azure Storage and Service Bus for background jobs.

Modules (import the one you need; nothing is imported eagerly, to keep cold starts short):

- `shared.storage`, `shared.servicebus`: clients from a connection string or app setting.
- `shared.idempotency`: claim keys so at-least-once delivery gives exactly-once effects.
- `shared.checkpoints`: save and resume a long job's progress (ETag concurrency).
- `shared.status`: job status records with validated transitions and cancellation.
- `shared.results`: reply queues, signed callbacks, completion events.
- `shared.locks`: blob-lease locks and singletons.
- `shared.ordering`: per-key sequence ordering for queue and Service Bus messages.
- `shared.priority`: high/normal priority Storage queues.
- `shared.deadletters`: list, show, replay and purge poison / dead-letter messages.
- `shared.retention`: one bounded clean-up call for the stores' rows (for a timer).
- `shared.delayed`: delayed one-off jobs (Storage visibility delays, Service Bus schedules).
- `shared.sync`: run the async API from synchronous functions.

It imports only `azure.functions`, the Azure SDKs, aiohttp (azure-core's async transport)
and the standard library, so it runs unchanged on the Azure Functions host.
"""

from __future__ import annotations

from .errors import JobsError

__all__ = ["JobsError"]
