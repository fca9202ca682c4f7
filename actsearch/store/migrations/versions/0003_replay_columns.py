"""Add candidates.genotype, ask_seq and tell_seq: what resuming a run replays.

`genotype` is the tree exactly as evolved (before simplification); `ask_seq`
and `tell_seq` number the strategy's asks and tells in one sequence per run.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("candidates") as batch:
        batch.add_column(sa.Column("genotype", sa.Text(), nullable=True))
        batch.add_column(sa.Column("ask_seq", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("tell_seq", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("candidates") as batch:
        batch.drop_column("tell_seq")
        batch.drop_column("ask_seq")
        batch.drop_column("genotype")
