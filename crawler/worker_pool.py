"""Worker processes fed straight from the crawl's event loop.

A crawl hands every page to a worker process (extraction is CPU work the reactor must not
do). ``concurrent.futures.ProcessPoolExecutor`` does that through two threads of the crawl
process (one feeds the calls to a pipe, one reads the results and wakes the loop up), which
competed with the reactor for the GIL and took 0.34 ms of the crawl process's CPU per page
(``arsip bench crawl``: 0.71 s for 2,100 pages). Here the loop itself writes each call to
its worker's socket and reads the results when the socket is readable
(``loop.add_reader``): no thread, no lock, no wake-up pipe; the crawl process's extra CPU
for it is 0.07 ms per page, and the crawl went from about 208 to 216 pages/s.

- Each worker has a socket pair; a frame is an 8-byte length and a pickle: ``(fn, args,
  kwargs)`` one way (``fn`` pickled by reference: a top-level function), ``(ok, value)``
  back. A worker runs its calls in order, so its results come back in the order sent.
- A call goes to the worker with the fewest calls in hand, at most ``max_in_flight`` each
  (one running, one waiting for it, so the worker never waits for the loop); the others wait
  here, in order.
- A worker that dies (killed, out of memory, a crash in a C library) fails the calls it
  held with :class:`WorkerDied`; the others go on. When none is left, every call fails.
- ``close()``: the workers finish the call in hand, see their socket close and exit; they
  are waited for (their CPU time becomes the crawl's ``RUSAGE_CHILDREN``).
"""

from __future__ import annotations

import asyncio
import collections
import gc
import logging
import multiprocessing
import os
import pickle
import signal
import socket
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

_HEADER = struct.Struct("!Q")
_SEND_BUFFER = 1 << 20  # asked for; the kernel may cap it (net.core.wmem_max)
_READ_CHUNK = 1 << 18


class WorkerDied(RuntimeError):
    """The worker process running a call ended before it answered."""


@dataclass
class _Worker:
    process: Any  # multiprocessing.Process
    sock: socket.socket
    in_flight: collections.deque[asyncio.Future[Any]] = field(default_factory=collections.deque)
    inbox: bytearray = field(default_factory=bytearray)
    outbox: bytearray = field(default_factory=bytearray)
    alive: bool = True


class WorkerPool:
    def __init__(self, workers: int, *, initializer: Callable[..., None] | None = None,
                 initargs: tuple[Any, ...] = (), max_in_flight: int = 2) -> None:
        self.size = workers
        self.initializer = initializer
        self.initargs = initargs
        self.max_in_flight = max_in_flight
        self._workers: list[_Worker] = []
        self._waiting: collections.deque[tuple[bytes, asyncio.Future[Any]]] = \
            collections.deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._joined = False
        self.last_death: str | None = None  # how the last worker that died ended

    @property
    def pids(self) -> list[int]:
        return [w.process.pid for w in self._workers]

    @property
    def alive(self) -> int:
        """Workers not known to have died."""
        return sum(w.alive for w in self._workers)

    def start(self) -> None:
        """Fork the workers. Frozen, the objects they inherit are never traversed by their
        garbage collector (which would copy the memory pages they share with this one)."""
        method = "fork" if sys.platform == "linux" else "spawn"
        ctx = multiprocessing.get_context(method)
        ours: list[socket.socket] = []
        gc.freeze()
        try:
            for _ in range(self.size):
                parent_end, child_end = socket.socketpair()
                try:
                    parent_end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _SEND_BUFFER)
                except OSError:
                    pass
                # a forked worker closes the crawl's ends it inherits (a spawned one has none)
                inherited = [s.fileno() for s in (*ours, parent_end)] if method == "fork" \
                    else []
                process = ctx.Process(  # type: ignore[attr-defined]
                    target=_serve,
                    args=(child_end, inherited, self.initializer, self.initargs, os.getpid()),
                    name="arsip-extract", daemon=True)
                process.start()
                child_end.close()
                parent_end.setblocking(False)
                ours.append(parent_end)
                self._workers.append(_Worker(process, parent_end))
        finally:
            gc.unfreeze()

    async def run(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` in a worker (``fn``: a module-level function)."""
        return await self.submit(fn, *args, **kwargs)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any
               ) -> asyncio.Future[Any]:
        """``run`` without awaiting (from the loop's thread, inside a running loop): the
        call is sent (or queued) before this returns; the future holds its result."""
        if self._closed:
            raise RuntimeError("the worker pool is closed")
        loop = asyncio.get_running_loop()
        self._bind(loop)
        future: asyncio.Future[Any] = loop.create_future()
        frame = _frame(pickle.dumps((fn, args, kwargs), protocol=pickle.HIGHEST_PROTOCOL))
        worker = self._least_busy()
        if worker is None:
            raise WorkerDied(f"no extraction worker process is left (the last one ended: "
                             f"{self.last_death})")
        if len(worker.in_flight) >= self.max_in_flight:
            self._waiting.append((frame, future))
        else:
            self._send(worker, frame, future)
        return future

    async def broadcast(self, fn: Callable[..., Any], /, *args: Any) -> list[Any]:
        """``fn(*args)`` once in every live worker, after the calls it holds already and
        before any sent to it later (e.g. a new setting for the pages that follow)."""
        loop = asyncio.get_running_loop()
        self._bind(loop)
        frame = _frame(pickle.dumps((fn, args, {}), protocol=pickle.HIGHEST_PROTOCOL))
        futures = []
        for worker in self._workers:
            if worker.alive:
                future: asyncio.Future[Any] = loop.create_future()
                self._send(worker, frame, future)  # beside max_in_flight: one small call
                futures.append(future)
        return list(await asyncio.gather(*futures, return_exceptions=True))

    def close(self, timeout: float = 30.0, *, wait: bool = True) -> None:
        """Let the workers finish the call in hand and exit; wait for them (with ``wait``
        False, not yet: a later ``close()`` does, by then usually at once: a run whose
        last results are in lets the workers exit beside its last write)."""
        if not self._closed:
            self._closed = True
            for worker in self._workers:
                self._forget(worker)
                try:
                    worker.sock.close()
                except OSError:
                    pass
            error = RuntimeError("the worker pool is closed")
            for worker in self._workers:  # their results can no longer come
                _fail_all(worker.in_flight, error)
            _fail_all((f for _, f in self._waiting), error)
            self._waiting.clear()
        if not wait or self._joined:
            return
        self._joined = True
        for worker in self._workers:
            worker.process.join(timeout)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(5)

    # -- the loop's side ---------------------------------------------------------------
    def _bind(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._loop is loop:
            return
        self._loop = loop  # (a test may run the pool from one asyncio.run after another)
        for worker in self._workers:
            if worker.alive:
                loop.add_reader(worker.sock.fileno(), self._on_readable, worker)

    def _least_busy(self) -> _Worker | None:
        alive = [w for w in self._workers if w.alive]
        return min(alive, key=lambda w: len(w.in_flight)) if alive else None

    def _send(self, worker: _Worker, frame: bytes, future: asyncio.Future[Any]) -> None:
        worker.in_flight.append(future)
        if worker.outbox:
            worker.outbox += frame  # behind what is still being written
            return
        try:
            sent = worker.sock.send(frame)
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            self._died(worker, exc)
            return
        if sent < len(frame):
            worker.outbox += memoryview(frame)[sent:]
            assert self._loop is not None
            self._loop.add_writer(worker.sock.fileno(), self._on_writable, worker)

    def _on_writable(self, worker: _Worker) -> None:
        try:
            sent = worker.sock.send(worker.outbox)
        except BlockingIOError:
            return
        except OSError as exc:
            self._died(worker, exc)
            return
        del worker.outbox[:sent]
        if not worker.outbox and self._loop is not None:
            self._loop.remove_writer(worker.sock.fileno())

    def _on_readable(self, worker: _Worker) -> None:
        try:
            while True:
                chunk = worker.sock.recv(_READ_CHUNK)
                if not chunk:
                    self._died(worker, None)
                    return
                worker.inbox += chunk
                if len(chunk) < _READ_CHUNK:
                    break
        except BlockingIOError:
            pass
        except OSError as exc:
            self._died(worker, exc)
            return
        self._deliver(worker)

    def _deliver(self, worker: _Worker) -> None:
        inbox = worker.inbox
        start = 0
        while len(inbox) - start >= _HEADER.size:
            (size,) = _HEADER.unpack_from(inbox, start)
            end = start + _HEADER.size + size
            if len(inbox) < end:
                break
            try:
                ok, value = pickle.loads(memoryview(inbox)[start + _HEADER.size:end])
            except Exception as exc:  # noqa: BLE001 - e.g. an exception that does not unpickle
                ok, value = False, RuntimeError(f"unreadable result: {type(exc).__name__}: {exc}")
            start = end
            future = worker.in_flight.popleft()
            if not future.done():  # (a cancelled call's result is dropped)
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)
            if self._waiting:
                frame, waiting = self._waiting.popleft()
                if not waiting.done():
                    self._send(worker, frame, waiting)
        if start:
            del inbox[:start]

    def _died(self, worker: _Worker, exc: BaseException | None) -> None:
        if not worker.alive:
            return
        worker.alive = False
        self._forget(worker)
        worker.process.join(1)
        code = worker.process.exitcode
        how = f"killed by signal {-code}" if code is not None and code < 0 else \
            f"exit code {code}" if code is not None else (str(exc) if exc else "gone")
        self.last_death = how
        error = WorkerDied(f"an extraction worker process ended ({how})")
        logger.warning("%s; %d left", error, sum(w.alive for w in self._workers))
        _fail_all(worker.in_flight, error)
        worker.in_flight.clear()
        # what waited for a worker goes to the ones left (or fails: none is left)
        waiting, self._waiting = self._waiting, collections.deque()
        for frame, future in waiting:
            if future.done():
                continue
            other = self._least_busy()
            if other is None:
                future.set_exception(error)
            elif len(other.in_flight) >= self.max_in_flight:
                self._waiting.append((frame, future))
            else:
                self._send(other, frame, future)

    def _forget(self, worker: _Worker) -> None:
        if self._loop is None or self._loop.is_closed():
            return
        try:
            self._loop.remove_reader(worker.sock.fileno())
            self._loop.remove_writer(worker.sock.fileno())
        except (ValueError, OSError):  # the socket is closed already
            pass


def _frame(payload: bytes) -> bytes:
    return _HEADER.pack(len(payload)) + payload


def _fail_all(futures: Any, error: BaseException) -> None:
    for future in futures:
        if not future.done() and not future.get_loop().is_closed():
            future.set_exception(error)


# --- the worker's side ----------------------------------------------------------------

def _serve(sock: socket.socket, parent_fds: list[int], initializer: Callable[..., None] | None,
           initargs: tuple[Any, ...], parent_pid: int) -> None:
    """A worker's loop: read a call, run it, write its result; until the socket closes."""
    for fd in parent_fds:  # the crawl's ends: our socket must close when the crawl's does
        try:
            os.close(fd)
        except OSError:
            pass
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the crawl's handler
    try:  # the crawl's event loop wakes up on signals through this fd: not on ours
        signal.set_wakeup_fd(-1)
    except (ValueError, OSError):
        pass
    from crawler.writer_process import die_with_parent

    die_with_parent(parent_pid)
    if initializer is not None:
        initializer(*initargs)
    reader = sock.makefile("rb", buffering=_READ_CHUNK)
    while True:
        try:
            header = reader.read(_HEADER.size)
            if len(header) < _HEADER.size:
                return  # the crawl closed our socket: done
            (size,) = _HEADER.unpack(header)
            payload = reader.read(size)
        except OSError:
            # closed with our last result still unread at its end (the crawl stopping):
            # the kernel resets the connection instead of ending it; done all the same
            return
        if len(payload) < size:
            return
        try:
            fn, args, kwargs = pickle.loads(payload)
            del payload
            result: tuple[bool, Any] = (True, fn(*args, **kwargs))
        except Exception as exc:  # noqa: BLE001 - the caller gets it
            result = (False, exc)
        try:
            data = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # noqa: BLE001 - an exception that does not pickle
            data = pickle.dumps((False, RuntimeError(f"{type(exc).__name__}: {exc}")),
                                protocol=pickle.HIGHEST_PROTOCOL)
        try:
            sock.sendall(_frame(data))
        except OSError:
            return
