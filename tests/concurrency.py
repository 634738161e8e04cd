"""Races for the concurrency tests: threads released together, each on its own connection."""

from __future__ import annotations

import threading

from django.db import connections


def race(target, args_list) -> tuple[list, list]:
    """``target(*args)`` for each args, in threads released together; (results, errors) in order."""
    barrier = threading.Barrier(len(args_list))
    results: list = [None] * len(args_list)
    errors: list = [None] * len(args_list)

    def worker(index, args):
        try:
            barrier.wait(timeout=10)
            results[index] = target(*args)
        except BaseException as error:  # noqa: BLE001 - the test inspects them
            errors[index] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i, args)) for i, args in enumerate(args_list)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a thread is stuck"
    return results, errors


def run_in_threads(target, args_list) -> list:
    """Like ``race``, for races in which every caller must succeed: their results in order."""
    results, errors = race(target, args_list)
    failures = [error for error in errors if error is not None]
    assert not failures, failures
    return results
