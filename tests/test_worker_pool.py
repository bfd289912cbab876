"""The worker processes a crawl feeds from its event loop (``crawler.worker_pool``)."""

from __future__ import annotations

import asyncio
import hashlib
import multiprocessing
import os
import pickle
import select
import signal
import socket
import time
from collections.abc import Iterator

import pytest

from crawler.worker_pool import WorkerDied, WorkerPool, _frame, _serve


def _digest(data: bytes, delay: float = 0.0) -> tuple[int, str]:
    if delay:
        time.sleep(delay)
    return os.getpid(), hashlib.sha256(data).hexdigest()


def _fail(message: str) -> None:
    raise ValueError(message)


class _Unpicklable(Exception):
    def __init__(self, a: int, b: int) -> None:  # pickles, but cannot be rebuilt from args
        super().__init__(f"{a}/{b}")


def _raise_unpicklable() -> None:
    raise _Unpicklable(1, 2)


def _hang() -> None:
    time.sleep(600)


@pytest.fixture
def pool() -> Iterator[WorkerPool]:
    p = WorkerPool(2)
    p.start()
    try:
        yield p
    finally:
        p.close(timeout=10)


def test_calls_run_in_the_workers_and_each_caller_gets_its_own_result(pool: WorkerPool) -> None:
    # pages of many sizes, some larger than a socket's buffer (written as it drains)
    pages = [os.urandom(n) for n in (0, 1, 1000, 60_000, 300_000, 3_000_000)] * 5

    async def main() -> list[tuple[int, str]]:
        return await asyncio.gather(*(pool.run(_digest, page) for page in pages))

    results = asyncio.run(main())
    assert [digest for _, digest in results] == [hashlib.sha256(p).hexdigest() for p in pages]
    assert {pid for pid, _ in results} <= set(pool.pids)
    assert os.getpid() not in {pid for pid, _ in results}
    assert len({pid for pid, _ in results}) == 2  # both workers took calls


def test_an_exception_reaches_the_caller_and_the_worker_goes_on(pool: WorkerPool) -> None:
    async def main() -> None:
        with pytest.raises(ValueError, match="bad page"):
            await pool.run(_fail, "bad page")
        with pytest.raises(RuntimeError, match="unreadable result|_Unpicklable"):
            await pool.run(_raise_unpicklable)
        _, digest = await pool.run(_digest, b"x")
        assert digest == hashlib.sha256(b"x").hexdigest()

    asyncio.run(main())


def test_a_killed_worker_fails_its_calls_and_the_others_go_on(pool: WorkerPool) -> None:
    async def main() -> None:
        first = await pool.run(_digest, b"warm")  # which worker answers depends on load
        victim = first[0]
        held = [asyncio.ensure_future(pool.run(_digest, b"slow", 0.5)) for _ in range(4)]
        await asyncio.sleep(0.2)
        os.kill(victim, signal.SIGKILL)
        outcomes = await asyncio.gather(*held, return_exceptions=True)
        died = [o for o in outcomes if isinstance(o, WorkerDied)]
        assert died, outcomes
        assert "killed by signal 9" in str(died[0])
        # the calls that worker did not hold, and every later one, go to the survivor
        assert all(o[0] != victim for o in outcomes if not isinstance(o, BaseException))
        later = await asyncio.gather(*(pool.run(_digest, b"after") for _ in range(6)))
        assert {pid for pid, _ in later} == set(pool.pids) - {victim}

    asyncio.run(main())


def test_with_every_worker_gone_a_call_fails_at_once() -> None:
    pool = WorkerPool(1)
    pool.start()
    try:
        os.kill(pool.pids[0], signal.SIGKILL)

        async def main() -> None:
            with pytest.raises(WorkerDied):
                await pool.run(_digest, b"held")  # sent before the loop saw the death
            with pytest.raises(WorkerDied, match="no extraction worker"):
                await pool.run(_digest, b"later")

        asyncio.run(main())
    finally:
        pool.close(timeout=10)


def test_close_waits_for_the_workers_and_a_stuck_one_is_killed() -> None:
    pool = WorkerPool(2)
    pool.start()
    processes = [w.process for w in pool._workers]

    async def main() -> None:
        asyncio.ensure_future(pool.run(_hang))
        await pool.run(_digest, b"x")
        await asyncio.sleep(0.2)

    asyncio.run(main())
    started = time.monotonic()
    pool.close(timeout=1)
    assert time.monotonic() - started < 15
    assert all(p.exitcode is not None for p in processes)  # waited for: none left running
    with pytest.raises(RuntimeError, match="closed"):
        asyncio.run(pool.run(_digest, b"x"))


def test_workers_exit_when_the_crawl_process_closes_their_sockets() -> None:
    pool = WorkerPool(2)
    pool.start()
    processes = [w.process for w in pool._workers]
    for worker in pool._workers:  # what the crawl process dying does to them
        worker.sock.close()
    for p in processes:
        p.join(10)
    assert all(p.exitcode == 0 for p in processes)


def test_a_worker_whose_result_is_left_unread_exits_quietly() -> None:
    # the crawl stopping closes a worker's socket with the worker's last result still
    # unread: the kernel resets the connection instead of ending it; the worker must end
    # as on a plain close (exit 0, no traceback on the crawl's stderr)
    parent, child = socket.socketpair()
    ctx = multiprocessing.get_context("fork")
    process = ctx.Process(target=_serve, args=(child, [parent.fileno()], None, (), os.getpid()))
    process.start()
    child.close()
    parent.sendall(_frame(pickle.dumps((_digest, (b"abc",), {}))))
    assert select.select([parent], [], [], 30)[0]  # its result is there, and stays unread
    parent.close()
    process.join(30)
    assert process.exitcode == 0


def test_submit_sends_the_call_before_it_returns(pool: WorkerPool) -> None:
    """``submit`` writes the call to a worker at once (``reextract`` hands a batch's first
    pages to the workers before it reads the next ones, without yielding to the loop): the
    worker answers while the caller has not yet given the loop a turn."""

    async def main() -> tuple[bool, tuple[int, str]]:
        future = pool.submit(_digest, b"now")
        holder = next(w for w in pool._workers if w.in_flight)
        # blocking, without awaiting: only a call already on the socket gets an answer
        answered, _, _ = select.select([holder.sock], [], [], 10)
        return bool(answered), await future

    answered, (pid, digest) = asyncio.run(main())
    assert answered
    assert digest == hashlib.sha256(b"now").hexdigest() and pid != os.getpid()


def test_close_without_waiting_lets_the_workers_go_and_a_later_close_joins_them() -> None:
    """``close(wait=False)`` (``reextract`` once its last results are in, before its last
    write): returns at once, the workers exit by themselves, a call still in hand fails at
    once (its result can no longer come), and a later ``close()`` reaps them."""
    pool = WorkerPool(2)
    pool.start()
    processes = [w.process for w in pool._workers]

    async def main() -> BaseException | None:
        await asyncio.gather(*(pool.run(_digest, b"x") for _ in range(4)))
        pending = pool.submit(_digest, b"slow", 1.0)
        started = time.monotonic()
        pool.close(wait=False)
        assert time.monotonic() - started < 0.5  # did not wait for the call in hand
        try:
            await asyncio.wait_for(pending, 5)
        except BaseException as exc:  # noqa: BLE001 - what it failed with is the point
            return exc
        return None

    error = asyncio.run(main())
    assert isinstance(error, RuntimeError) and "closed" in str(error)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(p.exitcode is None for p in processes):
        time.sleep(0.05)  # not joined: exitcode polls the child (waitpid WNOHANG)
    assert all(p.exitcode == 0 for p in processes)  # exited by themselves, cleanly
    pool.close()  # joins (at once now), and is idempotent
    pool.close()
    with pytest.raises(RuntimeError, match="closed"):
        asyncio.run(pool.run(_digest, b"x"))
