"""Tasks: what a candidate activation is trained on (data + model + training setup).

Importing this package does not import TensorFlow.
"""

from .base import Task, TaskData, TaskError, TrainingSetup, hidden_activation, stratified_split
from .builtin import SPLIT_SEED, cache_dir, load_digits, load_mnist1d
from .registry import check_task, get_task, task_names

__all__ = [
    "TrainingSetup",
    "Task",
    "TaskData",
    "TaskError",
    "SPLIT_SEED",
    "cache_dir",
    "get_task",
    "hidden_activation",
    "load_digits",
    "load_mnist1d",
    "stratified_split",
    "task_names",
    "check_task",
]
