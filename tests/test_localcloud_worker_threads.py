"""The reused threads of the interpreter's executions and Task states (worker_threads.py)."""

from __future__ import annotations

import contextvars
import importlib
import threading

import pytest

from localcloud import patches
from localcloud.worker_threads import PooledThread, WorkerPool

WHO = contextvars.ContextVar("WHO", default="nobody")


def run_and_wait(pool: WorkerPool, job: object) -> None:
    done = threading.Event()

    def wrapped() -> None:
        try:
            job()  # type: ignore[operator]
        finally:
            done.set()

    pool.run(wrapped)
    assert done.wait(10)


def until_idle(pool: WorkerPool, workers: int) -> None:
    """Waits until the pool counts ``workers`` idle (a worker does so just after its job)."""
    pause = threading.Event()
    for _ in range(10_000):
        if pool.idle_workers() == workers:
            return
        pause.wait(0.001)
    raise AssertionError(f"the pool never had {workers} idle workers")


def test_a_finished_worker_takes_the_next_job() -> None:
    pool = WorkerPool("test-reuse")
    idents: list[int] = []
    for _ in range(5):
        run_and_wait(pool, lambda: idents.append(threading.get_ident()))
        until_idle(pool, 1)
    assert len(set(idents)) == 1


def test_the_worker_that_went_idle_last_takes_the_next_job() -> None:
    """A stack, not a queue: its caches are the warm ones (an argon2 block, a handler's data)."""
    pool = WorkerPool("test-lifo")
    releases = [threading.Event(), threading.Event()]
    running = [threading.Event(), threading.Event()]
    idents: list[int] = [0, 0]

    def hold(index: int) -> None:
        idents[index] = threading.get_ident()
        running[index].set()
        releases[index].wait(10)

    for index in (0, 1):
        pool.run(lambda index=index: hold(index))
        assert running[index].wait(10)
    assert idents[0] != idents[1]
    for index in (0, 1):  # the first worker goes idle first, the second last
        releases[index].set()
        until_idle(pool, index + 1)
    taken: list[int] = []
    for _ in range(3):
        run_and_wait(pool, lambda: taken.append(threading.get_ident()))
        until_idle(pool, 2)
    assert taken == [idents[1]] * 3


def test_a_busy_worker_does_not_hold_up_the_next_job() -> None:
    pool = WorkerPool("test-busy")
    release = threading.Event()
    first_running = threading.Event()

    def stuck() -> None:
        first_running.set()
        release.wait(10)

    pool.run(stuck)
    assert first_running.wait(10)
    ran: list[int] = []
    run_and_wait(pool, lambda: ran.append(threading.get_ident()))  # would hang if it queued
    release.set()
    assert ran


def test_a_job_that_raises_leaves_its_worker_working() -> None:
    pool = WorkerPool("test-raise")
    idents: list[int] = []

    def boom() -> None:
        idents.append(threading.get_ident())
        raise RuntimeError("job failure")

    run_and_wait(pool, boom)
    until_idle(pool, 1)
    run_and_wait(pool, lambda: idents.append(threading.get_ident()))
    assert idents[0] == idents[1]


def test_an_idle_worker_ends() -> None:
    pool = WorkerPool("test-idle-end", idle_seconds=0.0)
    run_and_wait(pool, lambda: None)
    workers = [t for t in threading.enumerate() if t.name.startswith("test-idle-end-")]
    for worker in workers:
        worker.join(10)
    assert not any(t.name.startswith("test-idle-end-") for t in threading.enumerate())
    assert pool.idle_workers() == 0
    run_and_wait(pool, lambda: None)  # and a later job still runs, on a new worker


def test_every_job_of_many_concurrent_submitters_runs_once() -> None:
    pool = WorkerPool("test-concurrent", idle_seconds=0.001)
    counts: dict[int, int] = {}
    lock = threading.Lock()
    all_done = threading.Semaphore(0)

    def job(number: int) -> None:
        with lock:
            counts[number] = counts.get(number, 0) + 1
        all_done.release()

    def submitter(base: int) -> None:
        for i in range(200):
            pool.run(lambda n=base + i: job(n))

    submitters = [threading.Thread(target=submitter, args=(k * 1000,)) for k in range(4)]
    for t in submitters:
        t.start()
    for t in submitters:
        t.join()
    for _ in range(800):
        assert all_done.acquire(timeout=10)
    assert counts == {k * 1000 + i: 1 for k in range(4) for i in range(200)}


def test_a_pooled_thread_runs_its_target_in_its_creators_context() -> None:
    seen: list[str] = []
    token = WHO.set("arn:aws:iam::123456789012:role/creator")
    try:
        thread = PooledThread(target=lambda suffix: seen.append(WHO.get() + suffix), args=("!",))
    finally:
        WHO.reset(token)
    thread.start()
    thread.join(10)
    assert seen == ["arn:aws:iam::123456789012:role/creator!"]
    assert not thread.is_alive()


def test_a_pooled_thread_joins_with_a_timeout_as_a_thread_does() -> None:
    release = threading.Event()
    thread = PooledThread(target=release.wait, args=(10,), daemon=True)
    with pytest.raises(RuntimeError):
        thread.join(0)
    assert not thread.is_alive()
    thread.start()
    thread.join(timeout=0.01)  # the target goes on: the interpreter's state timeout
    assert thread.is_alive()
    release.set()
    thread.join(10)
    assert not thread.is_alive()
    with pytest.raises(RuntimeError):
        thread.start()


def test_the_interpreter_runs_executions_and_task_states_pooled() -> None:
    patches.apply()
    program = importlib.import_module("moto.stepfunctions.parser.asl.component.program.program")
    execute_state = importlib.import_module(
        "moto.stepfunctions.parser.asl.component.state.exec.execute_state"
    )
    assert program.threading.Thread is PooledThread
    assert execute_state.Thread is PooledThread
