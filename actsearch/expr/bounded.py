"""Bounded algebra: sympy work runs in a helper process that is killed when it overruns.

sympy can spend minutes in one call (`factor` -> `dmp_zz_wang` -> `isprime`) or never
come back from a single C call (an exact power of a huge integer, e.g. 40 nested
`square`s of a constant). A signal or a trace hook cannot interrupt a C call, and
signals only reach the main thread, so neither bounds sympy in the calling process
(a web-server thread, a Ray worker). So sympy runs in helper processes: each calling
process keeps idle helpers (started on first use: one working, one warm spare, and
one more per thread that needs one at the same time). A task that overruns
`ALGEBRA_SECONDS` of CPU (the helper's own timer) or `WALL_SECONDS` (the caller's
SIGUSR1) is interrupted (the signal raises an exception in the helper's main
thread, which stops any Python code); a helper that does not answer within
`INTERRUPT_GRACE` (stuck in C) is killed. Either way the call raises `AlgebraTimeout`
and the caller falls back to a form that needs no sympy. Only a process's first helper
is waited for (up to `STARTUP_SECONDS`); when a later one is still starting (after a
kill, on a loaded machine) the call falls back after `ALGEBRA_SECONDS` too.

Only the task names in `_TASKS` run in a helper; arguments and results are our own
trees and strings, pickled over a private pipe between this process and its child.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from importlib import import_module
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

ALGEBRA_SECONDS = 0.5  # CPU seconds of sympy per task (it usually needs milliseconds); past
# this the cheap form is used. CPU time, so that a loaded machine changes few verdicts.
WALL_SECONDS = 0.8  # and the wall-clock cap of a task, which keeps every operation under about 1 s
STARTUP_SECONDS = 60.0  # a new helper imports sympy and numpy (about 1 s; more on a loaded machine)
INTERRUPT_GRACE = 0.25  # after the interrupt, the time a helper has to answer before it is killed
SPARE_HELPERS = 1  # a warm helper in reserve, so a call after a timeout waits for no start
MAX_IDLE_HELPERS = 2  # helpers kept for reuse; busier moments start (and later end) more

# task name -> "module:function" run inside the helper
_TASKS = {
    "canonical": "actsearch.expr.canonical:algebraic_canonical",
    "latex": "actsearch.expr.canonical:sympy_latex",
}
_INTERRUPTED = "interrupted"
_ROOT = str(Path(__file__).resolve().parents[2])  # the directory that holds the actsearch package
_BOOT = "import sys; sys.path.insert(0, sys.argv[1]); from actsearch.expr.bounded import serve; serve(*sys.argv[2:])"


class AlgebraError(Exception):
    """The algebra gave no answer (too slow, helper unavailable or failed): use the cheap form."""


class AlgebraTimeout(AlgebraError):
    """The task overran ALGEBRA_SECONDS; its helper was killed."""


class _Helper:
    """One helper process and the two pipe ends that talk to it."""

    def __init__(self) -> None:
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", _BOOT, _ROOT, str(to_child_r), str(from_child_w), str(os.getpid())],
                pass_fds=(to_child_r, from_child_w),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                env=env,
                close_fds=True,
            )
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
        self.outbox = Connection(to_child_w, readable=False)
        self.inbox = Connection(from_child_r, writable=False)
        self.ready = False
        self.broken = False  # killed or dead: never reused

    def is_ready(self, wait: float = 0.0) -> bool:
        """Whether the helper has started (waiting up to `wait` seconds for it)."""
        if not self.ready and self.inbox.poll(wait):
            self.inbox.recv()  # "ready"
            self.ready = True
        return self.ready

    def call(self, task: str, args: tuple, seconds: float, wall: float) -> Any:
        global _warm
        if not self.is_ready(seconds if _warm else STARTUP_SECONDS):
            if _warm:  # a replacement still starting: not worth more than the task's own time
                raise AlgebraError(f"no algebra helper ready within {seconds:g} s")
            self.broken = True
            raise AlgebraError(f"the algebra helper did not start within {STARTUP_SECONDS:g} s")
        _warm = True
        self.outbox.send((task, args, seconds))
        if not self.inbox.poll(wall):
            self.process.send_signal(signal.SIGUSR1)
            if not self.inbox.poll(INTERRUPT_GRACE):
                self.broken = True  # stuck in a C call: only killing it helps
                raise AlgebraTimeout(f"{task} took longer than {seconds:g} s (helper stuck, killed)")
        try:
            ok, value = self.inbox.recv()
        except (EOFError, OSError) as error:
            self.broken = True
            raise AlgebraError(f"the algebra helper died: {error!r}") from error
        if not ok:
            raise (AlgebraTimeout if value == _INTERRUPTED else AlgebraError)(f"{task}: {value}")
        return value

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()
        self.outbox.close()
        self.inbox.close()


counts: Counter[str] = Counter()  # "timeout", "killed", "error": how often the cheap form was used
_lock = threading.Lock()
_idle: list[_Helper] = []
_owner = os.getpid()  # helpers belong to the process that started them (not to a fork of it)
_warm = False  # a helper has started in this process: later ones are not waited for beyond a task's time


_spawner: ThreadPoolExecutor | None = None
_spawner_owner = 0


def _start_helper() -> _Helper:
    """Start a helper from one long-lived thread: Linux ends a helper with the *thread* that
    started it (PR_SET_PDEATHSIG), and callers' threads (web requests, test threads) come and go."""
    global _spawner, _spawner_owner
    if _spawner is None or _spawner_owner != os.getpid():
        _spawner, _spawner_owner = ThreadPoolExecutor(1, thread_name_prefix="algebra-helpers"), os.getpid()
    return _spawner.submit(_Helper).result()


def _take() -> _Helper:
    global _owner, _warm
    with _lock:
        if _owner != os.getpid():
            _idle.clear()  # inherited from the parent through fork: not ours to use or stop
            _owner, _warm = os.getpid(), False
        ready = [h for h in _idle if h.is_ready()]
        pool = ready or _idle
        helper = pool[-1] if pool else None
        if helper is not None:
            _idle.remove(helper)
        while len(_idle) < SPARE_HELPERS:
            _idle.append(_start_helper())
    return helper or _start_helper()


def _give_back(helper: _Helper) -> None:
    with _lock:
        if len(_idle) < MAX_IDLE_HELPERS and _owner == os.getpid():
            _idle.append(helper)
            return
    helper.stop()


def run(task: str, *args: Any, seconds: float = ALGEBRA_SECONDS, wall: float = WALL_SECONDS) -> Any:
    """Run one `_TASKS` task in a helper process; raises `AlgebraError` (`AlgebraTimeout`
    when it overran `seconds` of CPU or `wall` seconds) once a helper is up."""
    try:
        helper = _take()
    except OSError as error:  # no subprocesses here (sandbox, odd embedding)
        raise AlgebraError(f"cannot start the algebra helper: {error}") from error
    try:
        return helper.call(task, args, seconds, wall)
    except AlgebraError as error:
        counts[
            "killed"
            if helper.broken and isinstance(error, AlgebraTimeout)
            else "timeout"
            if isinstance(error, AlgebraTimeout)
            else "error"
        ] += 1
        raise
    finally:
        if helper.broken:
            helper.stop()
        else:
            _give_back(helper)


@atexit.register
def _stop_all() -> None:
    with _lock:
        helpers = list(_idle) if _owner == os.getpid() else []
        _idle.clear()
    for helper in helpers:
        helper.stop()


# -- the helper process ---------------------------------------------------------------------


def _die_with_parent(parent: int) -> None:
    """Ask Linux to kill this helper when its parent dies, even in the middle of a C call."""
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(0)


class _Interrupted(BaseException):
    """Raised in the helper's main thread by its CPU timer or by SIGUSR1 (the caller gave up)."""


def _interrupt(signum: int, frame: Any) -> None:
    raise _Interrupted


def serve(inbox_fd: str, outbox_fd: str, parent: str) -> None:
    """Helper main loop: one reply per (task, args) message until the parent closes the pipe.
    The interrupting signals are blocked except while a task runs, so they only stop a task."""
    _die_with_parent(int(parent))
    inbox = Connection(int(inbox_fd), writable=False)
    outbox = Connection(int(outbox_fd), readable=False)
    tasks = {}
    for name, target in _TASKS.items():
        module, function = target.split(":")
        tasks[name] = getattr(import_module(module), function)
    usr1 = {signal.SIGUSR1, signal.SIGVTALRM}  # the caller's interrupt, the CPU-time timer
    signal.pthread_sigmask(signal.SIG_BLOCK, usr1)
    for number in usr1:
        signal.signal(number, _interrupt)
    outbox.send("ready")
    while True:
        try:
            task, args, cpu_seconds = inbox.recv()
        except EOFError:
            return
        for late in usr1 & signal.sigpending():  # meant for the previous task
            signal.sigwait({late})
        try:
            signal.setitimer(signal.ITIMER_VIRTUAL, cpu_seconds)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, usr1)
            try:
                reply = (True, tasks[task](*args))
            finally:
                signal.setitimer(signal.ITIMER_VIRTUAL, 0)
                signal.pthread_sigmask(signal.SIG_BLOCK, usr1)  # runs a pending handler first
        except _Interrupted:
            reply = (False, _INTERRUPTED)
        except Exception as error:  # reported to the caller, which falls back
            reply = (False, f"{type(error).__name__}: {error}")
        outbox.send(reply)
