"""Add candidates.learned and evaluations.learned: Lamarckian constants.

`evaluations.learned`: the constants a parametric training learned (a JSON list, in the
order of the trained expression's parameters). `candidates.learned`: the candidate's tree as
evolved with the learned constants written back (genotype text), which its offspring inherit.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("candidates", "evaluations"):
        with op.batch_alter_table(table, recreate="never") as batch:
            batch.add_column(sa.Column("learned", sa.Text(), nullable=True))


def downgrade() -> None:
    # in place (SQLite 3.35+ drops a column), as 0006: a copy-and-swap would cascade
    for table in ("evaluations", "candidates"):
        with op.batch_alter_table(table, recreate="never") as batch:
            batch.drop_column("learned")
