"""Rename evaluations.budget and validations.budget to planned_epochs.

"budget" also meant the trainings a run may spend; these columns hold the
epochs a training was planned for (a partial reading: the epoch read).

The columns are renamed in place (`ALTER TABLE ... RENAME COLUMN`, SQLite
3.25+), not by batch mode's copy-and-swap: dropping the old `evaluations`
table would cascade through `partial_of` (ON DELETE CASCADE, foreign keys
are on) into the copy. The unique index of validations is recreated under
its new name.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

KEY = ["expr", "task", "seed"]


def _rename(old: str, new: str) -> None:
    with op.batch_alter_table("evaluations", recreate="never") as batch:
        batch.alter_column(old, new_column_name=new)
    with op.batch_alter_table("validations", recreate="never") as batch:
        batch.drop_index(f"ix_validations_expr_task_seed_{old}")
        batch.alter_column(old, new_column_name=new)
        batch.create_index(f"ix_validations_expr_task_seed_{new}", [*KEY, new], unique=True)


def upgrade() -> None:
    _rename("budget", "planned_epochs")


def downgrade() -> None:
    _rename("planned_epochs", "budget")
