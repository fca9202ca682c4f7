"""Resolving a task spec: a built-in name, ``path/to/file.py:func`` or
``package.module:func``; and checking a task before a search starts."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path

from actsearch.results import one_line

from .base import Task, TaskError
from .builtin import builtin_names, make_builtin


def task_names() -> list[str]:
    """Names of the built-in tasks."""
    return builtin_names()


def get_task(spec: str) -> Task:
    """Resolve a task spec to a :class:`Task`.

    * a built-in name (see :func:`task_names`), e.g. ``"mnist1d-mlp"``;
    * ``"path/to/file.py:make_task"``: the file is imported and
      ``make_task()`` is called;
    * ``"package.module:make_task"``: the module is imported and
      ``make_task()`` is called.

    Every failure raises :class:`TaskError` with one line naming the spec and
    the cause.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise TaskError(f"task spec must be a non-empty string, got {spec!r}")
    spec = spec.strip()
    if ":" not in spec:
        if spec in builtin_names():
            task = make_builtin(spec)
            task.spec = spec
            return task
        hint = ""
        if spec.endswith(".py") or os.sep in spec or "/" in spec:
            hint = " (for a user task write path/to/file.py:function)"
        raise TaskError(
            f"unknown task {spec!r}{hint}; known tasks: {', '.join(builtin_names())}, "
            "or path/to/file.py:function, or package.module:function"
        )

    target, func_name = spec.rsplit(":", 1)
    if not target or not func_name.isidentifier():
        raise TaskError(f"task {spec!r}: expected path/to/file.py:function or package.module:function")
    is_file = target.endswith(".py") or "/" in target or os.sep in target
    module = _import_file(spec, target) if is_file else _import_module(spec, target)

    factory = getattr(module, func_name, None)
    if factory is None:
        raise TaskError(f"task {spec!r}: {target} has no function {func_name!r}")
    if not callable(factory):
        raise TaskError(f"task {spec!r}: {func_name!r} in {target} is not callable")
    try:
        task = factory()
    except TaskError as exc:
        raise TaskError(f"task {spec!r}: {exc}") from exc
    except Exception as exc:
        raise TaskError(f"task {spec!r}: {func_name}() raised {one_line(exc)}") from exc
    if not isinstance(task, Task):
        raise TaskError(f"task {spec!r}: {func_name}() returned {type(task).__name__}, expected actsearch.tasks.Task")
    task.spec = spec
    return task


def _import_file(spec: str, target: str):
    path = Path(target).expanduser()
    if not path.is_file():
        raise TaskError(f"task {spec!r}: file not found: {target}")
    path = path.resolve()
    # a stable, unique module name per file, so the same file loaded twice
    # gives the same module (and pickling by reference has a name to find)
    mod_name = "actsearch_user_task_" + "".join(c if c.isalnum() else "_" for c in str(path))
    if mod_name in sys.modules:
        return sys.modules[mod_name]
    try:
        mspec = importlib.util.spec_from_file_location(mod_name, path)
        if mspec is None or mspec.loader is None:
            raise ImportError(f"cannot load {path}")
        module = importlib.util.module_from_spec(mspec)
        sys.modules[mod_name] = module
        mspec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(mod_name, None)
        raise TaskError(f"task {spec!r}: cannot import {target}: {one_line(exc)}") from exc
    return module


def _import_module(spec: str, target: str):
    try:
        return importlib.import_module(target)
    except ModuleNotFoundError as exc:
        if exc.name and target.startswith(exc.name):
            raise TaskError(f"task {spec!r}: no module named {target!r}") from exc
        raise TaskError(f"task {spec!r}: cannot import {target}: {one_line(exc)}") from exc
    except Exception as exc:
        raise TaskError(f"task {spec!r}: cannot import {target}: {one_line(exc)}") from exc


def check_task(task: Task) -> Task:
    """Load the task's data, build its model once with relu and run it on a
    tiny batch (forward pass and loss), so that build errors show before a
    search starts. Raises :class:`TaskError` (one line) on failure; returns the
    task."""
    label = task.spec or task.name
    data = task.get_data()
    try:
        import keras
        import tensorflow as tf

        from .losses import resolve_loss

        model = task.build_model(tf.nn.relu)
        if not isinstance(model, keras.Model):
            raise TaskError(f"task {label!r}: build_model returned {type(model).__name__}, expected keras.Model")
        x = tf.convert_to_tensor(data.x_train[:4])
        y = tf.convert_to_tensor(data.y_train[:4])
        out = model(x, training=False)
        if out.shape[0] != x.shape[0]:
            raise TaskError(f"task {label!r}: model output has batch size {out.shape[0]}, expected {x.shape[0]}")
        loss = resolve_loss(task.loss)(y, out)
        if loss.shape.rank not in (0, None):
            loss = tf.reduce_mean(loss)
        if not bool(tf.math.is_finite(loss)):
            raise TaskError(f"task {label!r}: loss on a tiny batch is not finite")
    except TaskError:
        raise
    except Exception as exc:
        raise TaskError(f"task {label!r}: model check failed: {one_line(exc)}") from exc
    return task
