"""Chaos: two real Celery workers on a private Redis, killed (SIGKILL) and restarted mid-run.

Each test starts its own ``redis-server`` on a free port (never the shared one the rest of the
suite and people use: the broker-restart test kills it), two workers on it against the test
database, and points this process's Celery app at it. The workers run with
``tests.chaos.worker_settings`` (a short visibility timeout, so a killed worker's task comes back
in seconds) and write their e-mail to files, one directory per worker process, so the mail a
killed worker sent is still there to count.

The randomness is seeded: the seed is printed (shown with a failure) and ``CHAOS_SEED=<n>``
replays it.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from unittest import mock

import pytest
import redis
from django.core import mail
from django.db import connection
from django.utils import timezone

from moderation.models import Notice
from moderation.services import notices as notice_service
from tests.conftest import database_url

ROOT = Path(__file__).resolve().parents[2]
NODE_HOST = "chaos.test"
WAIT_LIMIT = 90  # seconds any one phase may take before the test gives up


def wait_for(predicate: Callable[[], object], *, what: str, timeout: float = WAIT_LIMIT, every: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    pytest.fail(f"{what}: not reached within {timeout} s")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- The seed -----------------------------------------------------------------------------


@pytest.fixture
def rng(request) -> random.Random:
    seed = int(os.environ.get("CHAOS_SEED") or random.SystemRandom().randrange(2**32))
    print(f"\nchaos seed {seed} for {request.node.name} (replay: CHAOS_SEED={seed})")
    return random.Random(seed)


# --- A private Redis ------------------------------------------------------------------------


class PrivateRedis:
    """A throwaway ``redis-server`` without persistence: a restart loses everything it held."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None
        self.client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self.directory),
                "--logfile", str(self.directory / "redis.log"),
            ],
            cwd=self.directory,
        )  # fmt: skip

        def answers():
            try:
                return self.client.ping()
            except redis.ConnectionError:
                assert self.process.poll() is None, "redis-server exited at start-up (see redis.log)"
                return False

        wait_for(answers, what="the private redis-server answers", timeout=10, every=0.02)

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        self.client.connection_pool.disconnect()

    def messages_in_flight(self, queue: str) -> int:
        """Tasks waiting in the queue (any priority level) or delivered and not acknowledged yet."""
        queued = sum(self.client.llen(key) for key in self.client.scan_iter(match=f"{queue}*", _type="list"))
        return queued + self.client.hlen("unacked")


@pytest.fixture
def private_redis(tmp_path):
    if not shutil.which("redis-server"):
        pytest.skip("the chaos tests start their own redis-server: install it (apt-get install redis-server)")
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.kill()


# --- Two workers ----------------------------------------------------------------------------


@dataclass
class Incarnation:
    """One worker process: a slot ("a" or "b") is restarted as a new incarnation after each kill."""

    slot: str
    number: int
    node: str
    process: subprocess.Popen
    log: Path
    outbox: Path
    killed: bool = False

    def ready(self) -> bool:
        return self.process.poll() is None and f"{self.node} ready." in self.log.read_text(errors="replace")

    def running_task(self) -> str | None:
        """The task this worker had received and not finished, from its log (``--loglevel=INFO``)."""
        running = {}
        for line in self.log.read_text(errors="replace").splitlines():
            if found := re.search(r"Task (\S+)\[([0-9a-f-]+)\] (received|succeeded|raised|retry)", line):
                name, task_id, event = found.groups()
                if event == "received":
                    running[task_id] = name
                else:
                    running.pop(task_id, None)
        return ", ".join(running.values()) or None


@dataclass
class Workers:
    """Two ``celery worker --pool=solo`` processes on the private Redis, killed and restarted at will."""

    directory: Path
    env: dict[str, str]
    queue: str
    server: PrivateRedis
    stack: ExitStack
    current: dict[str, Incarnation] = field(default_factory=dict)
    history: list[Incarnation] = field(default_factory=list)
    kills: list[str] = field(default_factory=list)

    def start(self, slot: str) -> Incarnation:
        number = sum(1 for done in self.history if done.slot == slot) + 1
        name = f"{slot}{number}"
        node = f"chaos-{name}@{NODE_HOST}"
        log = self.directory / f"worker-{name}.log"
        outbox = self.directory / f"outbox-{name}"
        process = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "backoffice", "worker",
                "--pool=solo", "--loglevel=INFO", "-Q", self.queue, "-n", node,
                "--without-heartbeat", "--without-gossip", "--without-mingle",
            ],
            cwd=ROOT,
            env={**self.env, "EMAIL_URL": f"file://{outbox}"},
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        incarnation = Incarnation(slot, number, node, process, log, outbox)
        self.current[slot] = incarnation
        self.history.append(incarnation)
        return incarnation

    def wait_ready(self, *slots: str) -> None:
        for slot in slots or tuple(self.current):
            incarnation = self.current[slot]

            def ready(incarnation=incarnation):
                if incarnation.process.poll() is not None:
                    pytest.fail(f"worker {incarnation.node} exited at start-up:\n{self.tail(incarnation)}")
                return incarnation.ready()

            wait_for(ready, what=f"worker {incarnation.node} ready", timeout=60, every=0.1)

    def ready_slots(self) -> list[str]:
        return sorted(slot for slot, incarnation in self.current.items() if incarnation.ready())

    def kill_and_restart(self, slot: str) -> dict:
        """SIGKILL: no warm shutdown, no acknowledgement, the database connection just drops.

        Returns the victim and the task it was running, if any (read from its log).
        """
        victim = self.current[slot]
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait(timeout=10)
        victim.killed = True
        self.kills.append(victim.node)
        self.start(slot)
        return {"victim": victim.node, "running": victim.running_task()}

    def start_both(self) -> Workers:
        """Both workers, ready; from now on this process's tasks go to them (not run eagerly)."""
        self.stack.enter_context(celery_app_on(self.server.url, self.queue))
        self.start("a")
        self.start("b")
        self.wait_ready()
        return self

    def all_alive(self) -> bool:
        return all(incarnation.process.poll() is None for incarnation in self.current.values())

    def stop(self) -> None:
        for incarnation in self.current.values():
            if incarnation.process.poll() is None:
                incarnation.process.terminate()
        for incarnation in self.current.values():
            try:
                incarnation.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                incarnation.process.kill()
                incarnation.process.wait()

    @staticmethod
    def tail(incarnation: Incarnation, lines: int = 40) -> str:
        return "\n".join(incarnation.log.read_text(errors="replace").splitlines()[-lines:])

    def logs(self) -> str:
        return "\n".join(f"--- {i.node}{' (killed)' if i.killed else ''}\n{self.tail(i)}" for i in self.history)

    def mail_sent(self) -> Counter:
        """How many times each notice was e-mailed (its ``X-Notice-Id``), across every worker process."""
        sent: Counter = Counter()
        for incarnation in self.history:
            for path in sorted(incarnation.outbox.glob("*.log")) if incarnation.outbox.exists() else []:
                sent.update(m.decode() for m in re.findall(rb"^X-Notice-Id: (\S+)$", path.read_bytes(), re.M))
        return sent


@contextmanager
def celery_app_on(broker_url: str, queue: str):
    """Point this process's Celery app at the private broker and queue, tasks really sent (not eager).

    The app keeps one connection pool and one producer pool, made on first use for the broker
    configured then: both are set aside and new ones made for the private broker, then the old
    ones are put back. The write and read URLs are the ones to set: ``CELERY_BROKER_URL`` in the
    environment wins over ``broker_url`` in the configuration.
    """
    from backoffice.celery import app

    names = ("broker_write_url", "broker_read_url", "task_default_queue", "task_always_eager")
    saved = {name: app.conf.get(name) for name in names}
    saved_pools = app._pool, app.amqp._producer_pool
    app._pool, app.amqp._producer_pool = None, None
    app.conf.update(
        broker_write_url=broker_url, broker_read_url=broker_url, task_default_queue=queue, task_always_eager=False
    )
    try:
        yield app
    finally:
        if app._pool is not None:
            app._pool.force_close_all()
        app._pool, app.amqp._producer_pool = saved_pools
        app.conf.update(saved)


@pytest.fixture
def workers(transactional_db, private_redis, tmp_path):
    """Two workers on the private Redis and the test database, started by ``workers.start_both()``.

    The test makes its data first (transactional_db: committed, so the workers see it), then
    starts them; meanwhile this process's Celery app sends its tasks to their queue.
    """
    if connection.vendor != "postgresql":
        pytest.skip("worker processes need a shared database: PostgreSQL")
    url = database_url()  # the runtime role's, when the suite runs as it: as production workers do
    queue = f"chaos-{os.getpid()}-{time.monotonic_ns()}"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "tests.chaos.worker_settings",
        "CELERY_BROKER_URL": private_redis.url,
        "CELERY_RESULT_BACKEND": "",  # no results: the tests read the database
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "CELERY_TASK_DEFAULT_QUEUE": queue,
    }
    with ExitStack() as stack:
        pool = Workers(directory=tmp_path, env=env, queue=queue, server=private_redis, stack=stack)
        try:
            yield pool
        finally:
            pool.stop()
            if pool.history:
                print(pool.logs())


# --- Running the chaos and settling ----------------------------------------------------------


def kill_during(
    workers: Workers,
    rng: random.Random,
    *,
    kills: int,
    progress: Callable[[], int],
    total: int,
    finished: Callable[[], bool],
) -> list[dict]:
    """Kill a worker (SIGKILL) and restart it, ``kills`` times, at random points of the work.

    The points are random thresholds of ``progress`` up to ``total`` (at ``total`` the last
    part of the work is done but maybe not what follows it: a removal's finish, the e-mail),
    plus a random few milliseconds so the signal falls anywhere in a task; the victim is a
    random ready worker. While a restarted worker boots the other one works on alone, or
    nobody does if both were just killed.
    """
    thresholds = sorted(rng.sample(range(1, total + 1), kills))
    record = []
    for threshold in thresholds:
        wait_for(lambda t=threshold: progress() >= t or finished(), what=f"progress {threshold}/{total}", every=0.005)
        time.sleep(rng.uniform(0, 0.03))
        slots = wait_for(workers.ready_slots, what="a ready worker to kill", every=0.05)
        at = progress()
        killed = workers.kill_and_restart(rng.choice(slots))
        record.append({"progress": f"{at}/{total}", **killed})
        print(f"killed {killed['victim']} at {at}/{total} while running {killed['running']}")
    return record


def settle(workers: Workers, *, stable_for: float = 0.6) -> None:
    """Wait until both workers are up and the broker holds no task, queued or unacknowledged.

    A killed worker's task stays unacknowledged until the visibility timeout hands it to a
    live worker, so "nothing in flight" means every delivered task ran to its end.
    """
    workers.wait_ready()

    def quiet():
        since = time.monotonic()
        while time.monotonic() - since < stable_for:
            if workers.server.messages_in_flight(workers.queue) or not workers.all_alive():
                return False
            time.sleep(0.1)
        return True

    wait_for(quiet, what="the workers idle with nothing in flight", every=0.2)


def resend_after_lease() -> list[int]:
    """Beat, once the e-mail claims of a killed worker have lapsed: send what they held.

    ``EMAIL_LEASE`` outlives any task (minutes): this process plays the sweep that long
    after, with the clock moved on. Returns the notices that were still claimed.
    """
    stuck = list(
        Notice.objects.filter(email_status=Notice.EmailStatus.SENDING).order_by("pk").values_list("pk", flat=True)
    )
    if stuck:
        later = timezone.now() + notice_service.EMAIL_LEASE + timedelta(seconds=1)
        with mock.patch("django.utils.timezone.now", return_value=later):
            notice_service.send_pending_notices()
    return stuck


def assert_each_notice_mailed_once(notices, workers: Workers, *, interrupted: list[int]) -> dict:
    """Every notice is marked sent and its e-mail went out once.

    E-mail is at least once, and cannot be better: a worker can die after the mail server took
    a message and before the notice is marked sent, and the lease brings the notice back. A
    notice is marked the moment its message went, so each kill can leave at most that one
    message to go out twice; and only a notice whose sending a kill interrupted (one left
    claimed when everything settled) may.
    """
    notices = list(notices.values("pk", "puid", "email_status", "sent_at", "email_claimed_until", "email_attempts"))
    assert notices
    unsent = [n["pk"] for n in notices if n["email_status"] != Notice.EmailStatus.SENT or n["sent_at"] is None]
    assert not unsent, f"notices not sent: {unsent}"
    # Marked sent once, by the delivery that sent it; no claim left behind.
    assert {(n["email_attempts"], n["email_claimed_until"]) for n in notices} == {(1, None)}
    sent = workers.mail_sent() + Counter(m.extra_headers["X-Notice-Id"] for m in mail.outbox)
    by_puid = {n["puid"]: n["pk"] for n in notices}
    assert set(sent) >= set(by_puid), "a notice marked sent was never e-mailed"
    twice = {by_puid[puid]: count for puid, count in sent.items() if puid in by_puid and count > 1}
    assert set(twice) <= set(interrupted) and max(twice.values(), default=1) <= 2, (
        f"e-mailed more than once, not interrupted by a kill: {twice}"
    )
    assert len(twice) <= len(workers.kills), f"more duplicates than kills: {twice}"
    return {"notices": len(notices), "mailed_twice_after_kill": len(twice), "interrupted": len(interrupted)}
