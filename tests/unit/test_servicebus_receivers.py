"""How a Service Bus listener splits maxConcurrentCalls over its receivers, and the queue
between its running messages and its settler (funchost's own design: see
funchost.triggers.servicebus RECEIVERS_SETTING)."""

from __future__ import annotations

import anyio
import pytest

from funchost.errors import BindingError
from funchost.triggers.servicebus import RECEIVERS_SETTING, receiver_shares
from funchost.triggers.servicebus_settling import SettleQueue


@pytest.mark.parametrize(
    ("calls", "shares"),
    [
        (1, [1]),
        (4, [4]),
        (8, [8]),
        (9, [5, 4]),
        (16, [8, 8]),
        (32, [8, 8, 8, 8]),
        (64, [16, 16, 16, 16]),  # at most 4 receivers
        (33, [9, 8, 8, 8]),
    ],
)
def test_one_receiver_per_eight_calls_at_most_four(calls: int, shares: list[int]) -> None:
    assert receiver_shares(calls, {}, what="t") == shares


def test_the_setting_chooses_the_count_but_never_more_than_calls() -> None:
    assert receiver_shares(4, {RECEIVERS_SETTING: "2"}, what="t") == [2, 2]
    assert receiver_shares(32, {RECEIVERS_SETTING: "1"}, what="t") == [32]
    assert receiver_shares(3, {RECEIVERS_SETTING: "8"}, what="t") == [1, 1, 1]


@pytest.mark.parametrize("raw", ["0", "two", "-1", "1.5"])
def test_a_bad_setting_names_itself_and_the_function(raw: str) -> None:
    with pytest.raises(BindingError, match=f"trigger of 'f'.*{RECEIVERS_SETTING}.*{raw}"):
        receiver_shares(16, {RECEIVERS_SETTING: raw}, what="trigger of 'f'")


def test_settle_queue_is_caught_up_only_once_everything_put_was_settled() -> None:
    async def main() -> list[str]:
        queue = SettleQueue()
        seen: list[str] = []
        await queue.caught_up()  # nothing put: at once
        await queue.put(["a"], None)
        await queue.put(["b"], None)

        async def receive_when_caught_up() -> None:
            await queue.caught_up()
            seen.append("caught up")

        async with anyio.create_task_group() as tg:
            tg.start_soon(receive_when_caught_up)
            await anyio.wait_all_tasks_blocked()
            for _ in range(2):
                got = await queue.get()
                assert got is not None
                seen.append(got[0][0])
                await anyio.wait_all_tasks_blocked()
                queue.settled()
        queue.close()
        assert await queue.get() is None
        return seen

    assert anyio.run(main) == ["a", "b", "caught up"]
