"""Initial schema: runs, candidates, candidate_parents, evaluations.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("task", sa.String(200), nullable=False),
        sa.Column("space", sa.String(500), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("config", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("actsearch_version", sa.String(50), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
        sa.UniqueConstraint("name", name="uq_runs_name"),
    )
    op.create_table(
        "candidates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("expr", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.String(128), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("origin", sa.String(100), nullable=False),
        sa.Column("is_baseline", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("equivalent_to", sa.Integer(), nullable=True),
        sa.Column("fitness", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_candidates"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_candidates_run_id_runs", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["equivalent_to"],
            ["candidates.id"],
            name="fk_candidates_equivalent_to_candidates",
            ondelete="SET NULL",
        ),
    )
    op.create_index("ix_candidates_run_id_fingerprint", "candidates", ["run_id", "fingerprint"])
    op.create_index("ix_candidates_run_id_status", "candidates", ["run_id", "status"])
    op.create_table(
        "candidate_parents",
        sa.Column("child_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("child_id", "position", name="pk_candidate_parents"),
        sa.ForeignKeyConstraint(
            ["child_id"],
            ["candidates.id"],
            name="fk_candidate_parents_child_id_candidates",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["candidates.id"],
            name="fk_candidate_parents_parent_id_candidates",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_candidate_parents_parent_id", "candidate_parents", ["parent_id"])
    op.create_table(
        "evaluations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("candidate_id", sa.Integer(), nullable=False),
        sa.Column("task", sa.String(200), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("budget", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("is_partial", sa.Boolean(), nullable=False),
        sa.Column("partial_of", sa.Integer(), nullable=True),
        sa.Column("fitness", sa.Float(), nullable=True),
        sa.Column("val_accuracy", sa.Float(), nullable=True),
        sa.Column("val_loss", sa.Float(), nullable=True),
        sa.Column("train_seconds", sa.Float(), nullable=True),
        sa.Column("epochs", sa.Integer(), nullable=False),
        sa.Column("steps", sa.Integer(), nullable=True),
        sa.Column("batch_size", sa.Integer(), nullable=True),
        sa.Column("worker", sa.String(200), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_evaluations"),
        sa.ForeignKeyConstraint(
            ["candidate_id"],
            ["candidates.id"],
            name="fk_evaluations_candidate_id_candidates",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["partial_of"],
            ["evaluations.id"],
            name="fk_evaluations_partial_of_evaluations",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_evaluations_candidate_id", "evaluations", ["candidate_id"])


def downgrade() -> None:
    op.drop_table("evaluations")
    op.drop_table("candidate_parents")
    op.drop_table("candidates")
    op.drop_table("runs")
