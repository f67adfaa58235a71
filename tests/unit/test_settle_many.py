"""``settle_many``: a level's keys loaded through ``DataLoader.load`` (same cache, same values
and errors), batched with every other load of the same turn of the loop."""

import asyncio

import pytest
from strawberry.dataloader import DataLoader
from strawberry.exceptions import WrongNumberOfResultsReturned

from app.graphql.resolver_path.batching import settle_many


class Recorder:
    """A batch function that records its batches; key "bad" fails alone, "boom" the batch."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.release = asyncio.Event()
        self.release.set()

    async def __call__(self, keys: list[str]) -> list[object]:
        self.batches.append(list(keys))
        await self.release.wait()
        if "boom" in keys:
            raise RuntimeError("the batch failed")
        return [ValueError(key) if key == "bad" else key.upper() for key in keys]


async def test_new_keys_once_in_one_batch_and_cached() -> None:
    load = Recorder()
    loader = DataLoader(load)
    assert await loader.load("a") == "A"
    settled = await settle_many(loader, ["a", "b", "c", "b"])
    assert settled == ["A", "B", "C", "B"]
    assert load.batches == [["a"], ["b", "c"]]
    assert await loader.load("c") == "C"  # cached: no batch
    assert load.batches == [["a"], ["b", "c"]]


async def test_a_key_failing_alone_is_its_exception() -> None:
    loader = DataLoader(Recorder())
    first, bad = await settle_many(loader, ["x", "bad"])
    assert first == "X"
    assert isinstance(bad, ValueError)
    with pytest.raises(ValueError, match="bad"):
        await loader.load("bad")  # the same failure, from the cache


async def test_a_failing_batch_fails_every_new_key() -> None:
    loader = DataLoader(Recorder())
    settled = await settle_many(loader, ["y", "boom"])
    assert [str(error) for error in settled] == ["the batch failed"] * 2
    with pytest.raises(RuntimeError, match="the batch failed"):
        await loader.load("y")


async def test_a_wrong_number_of_results_fails_the_batch() -> None:
    async def short(keys: list[str]) -> list[str]:
        return keys[:1]

    settled = await settle_many(DataLoader(short), ["p", "q"])
    assert all(isinstance(error, WrongNumberOfResultsReturned) for error in settled)


async def test_a_load_meanwhile_waits_for_the_batch_and_back() -> None:
    load = Recorder()
    load.release.clear()
    loader = DataLoader(load)
    pending = asyncio.ensure_future(loader.load("m"))  # a batch of its own, not yet back
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    settling = asyncio.ensure_future(settle_many(loader, ["m", "n"]))
    await asyncio.sleep(0)
    during = asyncio.ensure_future(loader.load("n"))  # waits for settle_many's batch
    await asyncio.sleep(0)
    load.release.set()
    assert await settling == ["M", "N"]
    assert await pending == "M"
    assert await during == "N"
    assert load.batches == [["m"], ["n"]]


async def test_settling_in_the_same_turn_shares_one_batch() -> None:
    load = Recorder()
    loader = DataLoader(load)
    # Sibling objects prefetched one by one (parents from a resolver of their own): their
    # loads must still be one statement.
    first, second, alone = await asyncio.gather(
        settle_many(loader, ["p", "q"]), settle_many(loader, ["q", "r"]), loader.load("s")
    )
    assert (first, second, alone) == (["P", "Q"], ["Q", "R"], "S")
    assert load.batches == [["s", "p", "q", "r"]]


async def test_a_cancelled_settling_leaves_the_loads_to_the_others() -> None:
    load = Recorder()
    load.release.clear()
    loader = DataLoader(load)
    settling = asyncio.ensure_future(settle_many(loader, ["s"]))
    await asyncio.sleep(0)
    waiting = asyncio.ensure_future(loader.load("s"))
    await asyncio.sleep(0)
    settling.cancel()
    with pytest.raises(asyncio.CancelledError):
        await settling
    load.release.set()
    assert await waiting == "S"
    assert load.batches == [["s"]]


async def test_loaders_with_a_batch_size_go_key_by_key() -> None:
    load = Recorder()
    loader = DataLoader(load, max_batch_size=2)
    assert await settle_many(loader, ["a", "b", "c"]) == ["A", "B", "C"]
    assert load.batches == [["a", "b"], ["c"]]
