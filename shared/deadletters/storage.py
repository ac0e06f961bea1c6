"""Storage poison queues: list, show, replay and purge.

    orders = StoragePoisonQueue.for_queue(account, "orders", statuses=statuses)
    for letter in await orders.list():
        print(letter.message_id, letter.job_id, letter.reason, letter.decoded)
    await orders.replay(letter.message_id)    # back on "orders", the job Pending again
    await orders.purge()                      # give up on the rest

    blobs = StoragePoisonQueue.for_blob_trigger(account, host_id="myapp-1234")

The host copies a failed message to ``<queue>-poison`` as it is stored (still encoded), so a
replay re-sends that text unchanged: the function gets the same body. Storage has no
browse: `list` peeks (at most 32, untouched); beyond that, and for `show`, `replay` and
`purge` by id, the queue is scanned by receiving its messages, each hidden for `hold` and
made visible again at the end unless it was taken.
"""

from __future__ import annotations

import builtins
import logging
import math
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from azure.core.exceptions import AzureError
from azure.storage.queue import QueueMessage

from ..errors import DeadLetterNotFound
from ..status import StatusStore
from ..storage import StorageAccount
from .jobs import JobLink
from .model import DeadLetter, JobIdFinder, Replayed, decode_storage_text, find_job_id

log = logging.getLogger(__name__)

BLOB_TRIGGER_POISON = "webjobs-blobtrigger-poison"
_PEEK_MAX = 32  # Storage's limit for peek and receive
Visit = Callable[[QueueMessage], Awaitable[bool]]


class StoragePoisonQueue:
    """One Storage poison queue and the queue its messages are replayed to.

    Parameters
    ----------
    account:
        The storage account of both queues.
    poison_queue, target_queue:
        Where the given-up messages are, and where a replay sends them.
    statuses:
        With a status store, replays retry Failed jobs and the reason shown is the job's
        recorded error (Storage keeps none of its own).
    job_id:
        Reads the job id from a message (see `job_id_from`).
    encoding:
        host.json ``messageEncoding`` (``"base64"`` or ``"none"``): how stored text is
        decoded for `DeadLetter.decoded` and the job id. Replays never re-encode.
    hold:
        How long a scan hides each message it receives (longer than a scan takes).
    """

    def __init__(
        self,
        account: StorageAccount,
        poison_queue: str,
        target_queue: str,
        *,
        statuses: StatusStore | None = None,
        job_id: JobIdFinder = find_job_id,
        encoding: str = "base64",
        hold: timedelta = timedelta(seconds=60),
    ) -> None:
        self.account = account
        self.poison_queue = poison_queue
        self.target_queue = target_queue
        self.jobs = JobLink(statuses, job_id)
        self.encoding = encoding
        self.hold = hold

    @classmethod
    def for_queue(cls, account: StorageAccount, queue: str, **options: Any) -> StoragePoisonQueue:
        """``<queue>-poison``, replayed to `queue` (the host's naming)."""
        return cls(account, f"{queue}-poison", queue, **options)

    @classmethod
    def for_blob_trigger(
        cls, account: StorageAccount, host_id: str, **options: Any
    ) -> StoragePoisonQueue:
        """``webjobs-blobtrigger-poison``, replayed to the host's blob-trigger queue
        ``azure-webjobs-blobtrigger-<host_id>``. Its messages are JSON ``{"Type":
        "BlobTrigger", "FunctionId", "BlobType", "ContainerName", "BlobName", "ETag"}``;
        the host drops a replay whose blob was deleted or changed since (new ETag)."""
        return cls(account, BLOB_TRIGGER_POISON, f"azure-webjobs-blobtrigger-{host_id}", **options)

    @classmethod
    async def discover(
        cls, account: StorageAccount, **options: Any
    ) -> builtins.list[StoragePoisonQueue]:
        """One `for_queue` per ``<queue>-poison`` queue in the account, by name (the blob
        trigger's poison queue is left out: its replays need the host id)."""
        names = [q.name async for q in account.queue_service().list_queues()]
        return [
            cls.for_queue(account, name[: -len("-poison")], **options)
            for name in sorted(names)
            if name.endswith("-poison") and name != BLOB_TRIGGER_POISON
        ]

    async def count(self) -> int:
        """About how many messages wait in the poison queue (Storage's estimate)."""
        queue = await self.account.ensure_queue(self.poison_queue)
        return int((await queue.get_queue_properties()).approximate_message_count or 0)

    async def list(self, limit: int = _PEEK_MAX) -> list[DeadLetter]:
        """Up to `limit` messages, oldest first. Up to 32 are peeked, untouched; more are
        read by a scan (each message hidden for `hold`, then visible again)."""
        queue = await self.account.ensure_queue(self.poison_queue)
        if limit <= _PEEK_MAX:
            return [await self._letter(m) for m in await queue.peek_messages(max_messages=limit)]
        found: list[DeadLetter] = []

        async def visit(message: QueueMessage) -> bool:
            found.append(await self._letter(message))
            return False

        await self._scan(visit, until=lambda: len(found) >= limit)
        return found

    async def show(self, message_id: str) -> DeadLetter:
        """The message with id `message_id`.

        Raises
        ------
        DeadLetterNotFound
            No such message in the poison queue.
        """
        queue = await self.account.ensure_queue(self.poison_queue)
        for message in await queue.peek_messages(max_messages=_PEEK_MAX):
            if message.id == message_id:
                return await self._letter(message)
        found: builtins.list[DeadLetter] = []

        async def visit(message: QueueMessage) -> bool:
            if message.id == message_id:
                found.append(await self._letter(message))
            return False

        await self._scan(visit, until=lambda: bool(found))
        if not found:
            raise DeadLetterNotFound(self.poison_queue, message_id)
        return found[0]

    async def replay(
        self, message_id: str | None = None, *, limit: int | None = None
    ) -> builtins.list[Replayed]:
        """Send the message `message_id` (every message, when None) back to the target
        queue as stored, then delete it from the poison queue. A Failed job named in the
        message goes back to Pending first, so its next start is a new attempt.

        Replaying every message stops after `limit` (by default, the count when it began:
        copies that fail again and come back meanwhile are not replayed in the same call).

        Raises
        ------
        DeadLetterNotFound
            `message_id` was given and is not in the poison queue.
        azure.core.exceptions.ResourceNotFoundError
            The target queue does not exist (it is not created: a wrong name should fail);
            the job is put back to Failed and the message stays.
        """
        target = self.account.queue(self.target_queue)  # not created: a typo should fail
        budget = 1 if message_id is not None else limit if limit is not None else await self.count()
        done: builtins.list[Replayed] = []

        async def visit(message: QueueMessage) -> bool:
            if message_id is not None and message.id != message_id:
                return False
            decoded = decode_storage_text(message.content or "", self.encoding)
            retried = await self.jobs.before_replay(
                self.jobs.job_id(decoded, {}), self.poison_queue
            )
            try:
                sent = await target.send_message(message.content or "")
            except BaseException:
                await self.jobs.after_failed_send(retried)
                raise
            await self._delete(message)
            done.append(
                Replayed(message.id, sent.id, self.target_queue, retried.job_id, retried.state)
            )
            return True

        await self._scan(visit, until=lambda: len(done) >= budget)
        if message_id is not None and not done:
            raise DeadLetterNotFound(self.poison_queue, message_id)
        return done

    async def purge(self, message_id: str | None = None) -> int:
        """Delete the message `message_id`, or every message; returns how many (for all:
        Storage's count just before clearing). Jobs keep their status."""
        queue = await self.account.ensure_queue(self.poison_queue)
        if message_id is None:
            before = await self.count()
            await queue.clear_messages()
            return before
        deleted: builtins.list[str] = []

        async def visit(message: QueueMessage) -> bool:
            if message.id != message_id:
                return False
            await self._delete(message)
            deleted.append(message.id)
            return True

        await self._scan(visit, until=lambda: bool(deleted))
        return len(deleted)

    # --- internals ------------------------------------------------------------------------

    async def _letter(self, message: QueueMessage) -> DeadLetter:
        text = message.content or ""
        decoded = decode_storage_text(text, self.encoding)
        job_id = self.jobs.job_id(decoded, {})
        return DeadLetter(
            message_id=message.id,
            body=text.encode("utf-8"),
            source=self.poison_queue,
            target=self.target_queue,
            decoded=decoded,
            dequeue_count=message.dequeue_count,
            reason=await self.jobs.reason(job_id),
            enqueued_at=message.inserted_on,
            job_id=job_id,
        )

    async def _scan(self, visit: Visit, *, until: Callable[[], bool]) -> None:
        """Receive every message once, hidden for `hold`, and `visit` it; a message the
        visit did not take (False) is made visible again when the scan ends."""
        queue = await self.account.ensure_queue(self.poison_queue)
        hold = max(1, math.ceil(self.hold.total_seconds()))
        seen: set[str] = set()
        held: builtins.list[QueueMessage] = []
        try:
            while not until():
                page = queue.receive_messages(
                    messages_per_page=_PEEK_MAX, max_messages=_PEEK_MAX, visibility_timeout=hold
                )
                fresh = [m async for m in page if m.id not in seen]
                if not fresh:  # empty, or only messages seen before (the hold ran out)
                    return
                for message in fresh:
                    seen.add(message.id)
                    taken = False
                    try:
                        taken = not until() and await visit(message)
                    finally:
                        if not taken:  # also when the visit failed: let it be seen again
                            held.append(message)
        finally:
            for message in held:
                await self._release(message)

    async def _release(self, message: QueueMessage) -> None:
        queue = self.account.queue(self.poison_queue)
        try:
            await queue.update_message(message, visibility_timeout=0)
        except AzureError:
            # Best effort: deleted meanwhile, or its hold ran out and another reader has it;
            # either way it is visible again once its hold ends.
            log.debug("poison message %s not released early", message.id, exc_info=True)

    async def _delete(self, message: QueueMessage) -> None:
        await self.account.queue(self.poison_queue).delete_message(message)
