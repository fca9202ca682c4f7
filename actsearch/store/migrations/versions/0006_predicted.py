"""Add candidates.predicted: the surrogate's prediction of a proposal's fitness.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("candidates", recreate="never") as batch:
        batch.add_column(sa.Column("predicted", sa.Float(), nullable=True))


def downgrade() -> None:
    # in place (SQLite 3.35+ drops a column): a copy-and-swap of candidates would cascade
    # through the evaluations' foreign key into their rows
    with op.batch_alter_table("candidates", recreate="never") as batch:
        batch.drop_column("predicted")
