"""Add runs.notes, candidates.complexity and candidates.fitness_std.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("notes", sa.Text(), nullable=True))
    with op.batch_alter_table("candidates") as batch:
        batch.add_column(sa.Column("complexity", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("fitness_std", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("candidates") as batch:
        batch.drop_column("fitness_std")
        batch.drop_column("complexity")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("notes")
