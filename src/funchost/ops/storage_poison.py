"""A storage poison queue (`<queue>-poison`, or the blob trigger's
`webjobs-blobtrigger-poison`): list, show, replay, purge.

The host copies a failed message to the poison queue as stored (still encoded), so a
replay sends that text back unchanged and the function gets the same bytes. Storage has no
browse: `list` peeks (at most 32 messages, untouched); `show`, `replay` and `purge` of one
message scan the queue by receiving its messages, each hidden for `HOLD_SECONDS` and made
visible again when the scan ends unless it was taken.
"""

from __future__ import annotations

import builtins
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from azure.core.exceptions import ResourceNotFoundError

from funchost.ops.letters import Letter, LetterNotFound, Replayed, job_id_of
from funchost.storage.queues import Codec, UndecodableMessage

PEEK_MAX = 32  # Storage's limit for peek and receive
HOLD_SECONDS = 60
Visit = Callable[[Any], Awaitable[bool]]


class StoragePoison:
    def __init__(
        self,
        service: Any,
        poison_queue: str,
        target_queue: str,
        encoding: str,
        target_service: Any = None,
    ) -> None:
        """`service` holds the poison queue; `target_service` (default: the same) the
        queue replays go to."""
        self.where = poison_queue
        self.target = target_queue
        self._poison = service.get_queue_client(poison_queue)
        self._target = (target_service or service).get_queue_client(target_queue)
        self._codec = Codec(encoding)

    async def count(self) -> int:
        """Storage's estimate (0 for a poison queue not made yet)."""
        try:
            props = await self._poison.get_queue_properties()
        except ResourceNotFoundError:
            return 0
        return int(props.approximate_message_count or 0)

    async def list(self, limit: int = PEEK_MAX) -> list[Letter]:
        """Up to `limit` (at most 32) messages, oldest first, untouched."""
        try:
            found = await self._poison.peek_messages(max_messages=max(1, min(limit, PEEK_MAX)))
        except ResourceNotFoundError:
            return []
        return [self._letter(m) for m in found]

    async def show(self, message_id: str) -> Letter:
        for letter in await self.list():
            if letter.message_id == message_id:
                return letter
        found: builtins.list[Letter] = []

        async def visit(message: Any) -> bool:
            if message.id == message_id:
                found.append(self._letter(message))
            return False

        await self._scan(visit, until=lambda: bool(found))
        if not found:
            raise LetterNotFound(self.where, message_id)
        return found[0]

    async def replay(self, message_id: str | None = None) -> builtins.list[Replayed]:
        """Send `message_id` (every message, when None: as many as were counted when the
        replay began, so copies failing again meanwhile wait for the next one) back to the
        target queue as stored, then delete it from the poison queue."""
        budget = 1 if message_id is not None else await self.count()
        done: builtins.list[Replayed] = []
        if budget == 0:
            return done
        if not await _exists(self._target):
            await self._target.create_queue()

        async def visit(message: Any) -> bool:
            if message_id is not None and message.id != message_id:
                return False
            sent = await self._target.send_message(message.content or "")
            await self._poison.delete_message(message.id, message.pop_receipt)
            letter = self._letter(message)
            done.append(Replayed(message.id, sent.id, self.target, letter.job_id))
            return True

        await self._scan(visit, until=lambda: len(done) >= budget)
        if message_id is not None and not done:
            raise LetterNotFound(self.where, message_id)
        return done

    async def purge(self, message_id: str | None = None) -> int:
        """Delete `message_id`, or every message; how many (for all: the count before)."""
        if message_id is None:
            before = await self.count()
            if before:
                await self._poison.clear_messages()
            return before
        deleted: builtins.list[str] = []

        async def visit(message: Any) -> bool:
            if message.id != message_id:
                return False
            await self._poison.delete_message(message.id, message.pop_receipt)
            deleted.append(message.id)
            return True

        await self._scan(visit, until=lambda: bool(deleted))
        if not deleted:
            raise LetterNotFound(self.where, message_id)
        return 1

    def _letter(self, message: Any) -> Letter:
        stored = message.content or ""
        try:
            text = self._codec.decode(stored).decode("utf-8", "replace")
        except UndecodableMessage:
            text = stored
        return Letter(
            message_id=message.id,
            body=stored.encode("utf-8"),
            text=text,
            count=message.dequeue_count,
            enqueued=message.inserted_on,
            job_id=job_id_of(text, {}),
        )

    async def _scan(self, visit: Visit, *, until: Callable[[], bool]) -> None:
        """Receive every message once, hidden for a while, and `visit` it; one the visit did
        not take (False) is made visible again when the scan ends."""
        seen: set[str] = set()
        held: builtins.list[Any] = []
        try:
            while not until():
                try:
                    page = [
                        m
                        async for m in self._poison.receive_messages(
                            messages_per_page=PEEK_MAX,
                            max_messages=PEEK_MAX,
                            visibility_timeout=HOLD_SECONDS,
                        )
                    ]
                except ResourceNotFoundError:
                    return
                fresh = [m for m in page if m.id not in seen]
                if not fresh:
                    return
                for message in fresh:
                    seen.add(message.id)
                    if until() or not await visit(message):
                        held.append(message)
        finally:
            for message in held:
                with contextlib.suppress(ResourceNotFoundError):  # taken meanwhile
                    await self._poison.update_message(
                        message.id, message.pop_receipt, visibility_timeout=0
                    )


async def _exists(queue: Any) -> bool:
    try:
        await queue.get_queue_properties()
    except ResourceNotFoundError:
        return False
    return True
