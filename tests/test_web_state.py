"""The web view's cached figures (``web.state.WebState.cached``): computed once, then
refreshed beside the requests, never by one of them."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy import create_engine

from tests.fault_helpers import wait_for
from web.state import WebState


@pytest.fixture
def state() -> Any:
    engine = create_engine("sqlite://")
    yield WebState(engine=engine, database_url=None)
    engine.dispose()


def test_a_stale_value_is_served_while_a_thread_computes_it_again(state: WebState) -> None:
    values = iter(["first", "second"])
    release = threading.Event()
    calls: list[str] = []

    def slow(_session: Any) -> str:
        value = next(values)
        calls.append(value)
        if value == "second":
            release.wait(10)  # the refresh takes as long as the test says
        return value

    assert state.cached("k", 0.05, slow) == "first"
    assert state.cached("k", 0.05, slow) == "first"  # fresh: not computed again
    time.sleep(0.1)
    started = time.monotonic()
    # stale: answered at once with the old value, by every request, while one refresh runs
    assert [state.cached("k", 0.05, slow) for _ in range(5)] == ["first"] * 5
    assert time.monotonic() - started < 1.0
    wait_for(lambda: calls == ["first", "second"], 5, 0.01)
    assert calls == ["first", "second"]  # one refresh, not one per request
    release.set()
    wait_for(lambda: state.cached("k", 60, slow) == "second", 5, 0.01)
    assert state.cached("k", 60, slow) == "second"


def test_a_failed_refresh_keeps_the_stale_value_and_is_tried_again(
        state: WebState, caplog: pytest.LogCaptureFixture) -> None:
    outcomes: list[Any] = ["first", RuntimeError("database gone"), "third"]

    def flaky(_session: Any) -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return str(outcome)

    assert state.cached("k", 0.01, flaky) == "first"
    time.sleep(0.05)
    assert state.cached("k", 0.01, flaky) == "first"  # starts the refresh that fails
    wait_for(lambda: "database gone" in caplog.text, 5, 0.01)
    assert "database gone" in caplog.text
    # each request on the stale value tries again
    wait_for(lambda: state.cached("k", 0.01, flaky) == "third", 5, 0.02)
    assert state.cached("k", 60, flaky) == "third"


def test_the_first_value_is_computed_once_for_requests_arriving_together(
        state: WebState) -> None:
    calls: list[int] = []

    def slow(_session: Any) -> int:
        calls.append(1)
        time.sleep(0.2)
        return 42

    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(state.cached("k", 60, slow)))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [42] * 4 and len(calls) == 1
