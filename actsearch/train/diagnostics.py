"""What a training did besides its result: timings, the update that ran, losses.

:func:`actsearch.train.trainer.train_with_diagnostics` and
:func:`actsearch.train.batch.train_batch_with_diagnostics` return them WITH
the result, so a benchmark or a test reads the figures of the call it made
(no module state that the next training, or another thread, overwrites).
The workers call the plain ``train`` / ``train_batch`` and never pay for
them. No TensorFlow here: the losses come back as a numpy array.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Segment:
    """One call of the compiled program (the first one includes tracing)."""

    epochs: int  #: epochs the call was asked to run
    steps: int  #: steps it ran (a batch: the most any member ran)
    seconds: float  #: wall time of the call


@dataclass
class Diagnostics:
    """Figures of one training (``train``) or one batch (``train_batch``)."""

    #: building the model(s), the optimizer and the program, in seconds
    setup_seconds: float = 0.0
    #: the compiled calls, in order (one more per rung that did not stop everything)
    segments: list[Segment] = field(default_factory=list)
    #: whether the fused Adam kernel updated the weights (see update.py); None
    #: when no program was built (the training failed before)
    fused_update: bool | None = None
    #: a batch: whether its members ran as one program, and if not, why
    batched: bool = False
    reason: str | None = None
    #: a batch: how often its active members moved into a smaller program (members
    #: stopped at a rung leave their compute behind, see batch.RESTACK_MIN_WORK)
    restacks: int = 0
    #: with ``record_steps=n``: the training losses of the first n steps (a
    #: batch: ``[n, members]``); row n gathers every later step
    step_losses: np.ndarray | None = None
    #: a batch that ran as several programs (members trained one at a time,
    #: parametric groups): each one's own diagnostics; the fields above then
    #: add them up (losses ``[steps, members]`` when every part recorded)
    parts: tuple[Diagnostics, ...] = ()
