"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-27 18:31:33.324711

Rule: additive only (new tables, new nullable or defaulted columns, new indexes), so a
server of the previous version keeps working on the upgraded schema.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "feature_switch",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retired_in_version", sa.String(length=64), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feature_switch")),
        sa.UniqueConstraint("name", name=op.f("uq_feature_switch_name")),
    )
    op.create_table(
        "init_task_run",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("task", sa.String(length=64), nullable=False),
        sa.Column("strategy", sa.String(length=32), nullable=False),
        sa.Column("deployment", sa.String(length=128), nullable=False),
        sa.Column("server", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column(
            "started_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_init_task_run")),
    )
    op.create_index(
        "ix_init_task_run_task_deployment", "init_task_run", ["task", "deployment"], unique=False
    )
    op.create_table(
        "pre_plan",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("scene", sa.String(length=32), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("atomic", sa.Boolean(), nullable=False),
        sa.Column("group_id", sa.String(length=64), nullable=True),
        sa.Column("layer", sa.String(length=64), nullable=True),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=True),
        sa.Column("updated_by", sa.String(length=128), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pre_plan")),
    )
    op.create_index("ix_pre_plan_group_id", "pre_plan", ["group_id"], unique=False)
    op.create_index("ix_pre_plan_scene_type", "pre_plan", ["scene", "type"], unique=False)
    op.create_table(
        "pre_plan_action",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("scenes", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("user_visible", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("invisible_reason", sa.Text(), nullable=True),
        sa.Column("display_order", sa.Integer(), server_default="0", nullable=False),
        sa.Column("param_model", sa.String(length=200), nullable=False),
        sa.Column("depends_on_configs", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("activity", sa.String(length=128), nullable=False),
        sa.Column("definition_hash", sa.String(length=64), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retired_in_version", sa.String(length=64), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pre_plan_action")),
        sa.UniqueConstraint("code", name=op.f("uq_pre_plan_action_code")),
    )
    op.create_table(
        "system_config",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("value", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("value_type", sa.String(length=32), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("default", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retired_in_version", sa.String(length=64), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_system_config")),
        sa.UniqueConstraint("key", name=op.f("uq_system_config_key")),
    )
    op.create_table(
        "pre_plan_action_param",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("action_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=128), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("default", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("secret", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("display_order", sa.Integer(), server_default="0", nullable=False),
        sa.Column("validation", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("option_source", sa.String(length=64), nullable=True),
        sa.Column("option_filter", sa.String(length=32), nullable=True),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retired_in_version", sa.String(length=64), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["action_id"],
            ["pre_plan_action.id"],
            name=op.f("fk_pre_plan_action_param_action_id_pre_plan_action"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pre_plan_action_param")),
        sa.UniqueConstraint(
            "action_id", "name", name=op.f("uq_pre_plan_action_param_action_id_name")
        ),
    )
    op.create_index(
        op.f("ix_pre_plan_action_param_action_id"),
        "pre_plan_action_param",
        ["action_id"],
        unique=False,
    )
    op.create_table(
        "pre_plan_execute_order",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("execution_id", sa.String(length=200), nullable=False),
        sa.Column("plan_id", sa.BigInteger(), nullable=False),
        sa.Column("plan_version", sa.Integer(), nullable=False),
        sa.Column("plan_snapshot", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("trigger_kind", sa.String(length=32), nullable=False),
        sa.Column("triggered_by", sa.String(length=200), nullable=True),
        sa.Column("overrides", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("rerun_of_id", sa.BigInteger(), nullable=True),
        sa.Column("rerun_from_node", sa.String(length=200), nullable=True),
        sa.Column("workflow_run_id", sa.String(length=64), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["pre_plan.id"], name=op.f("fk_pre_plan_execute_order_plan_id_pre_plan")
        ),
        sa.ForeignKeyConstraint(
            ["rerun_of_id"],
            ["pre_plan_execute_order.id"],
            name=op.f("fk_pre_plan_execute_order_rerun_of_id_pre_plan_execute_order"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pre_plan_execute_order")),
        sa.UniqueConstraint("execution_id", name=op.f("uq_pre_plan_execute_order_execution_id")),
    )
    op.create_index(
        op.f("ix_pre_plan_execute_order_plan_id"),
        "pre_plan_execute_order",
        ["plan_id"],
        unique=False,
    )
    op.create_index(
        "ix_pre_plan_execute_order_state", "pre_plan_execute_order", ["state"], unique=False
    )
    op.create_table(
        "pre_plan_step",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("plan_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("atom_id", sa.BigInteger(), nullable=False),
        sa.Column("execute_order", sa.Integer(), nullable=False),
        sa.Column("execute_strategy", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("execute_context", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["pre_plan.id"], name=op.f("fk_pre_plan_step_plan_id_pre_plan")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pre_plan_step")),
        sa.UniqueConstraint(
            "plan_id", "execute_order", name=op.f("uq_pre_plan_step_plan_id_execute_order")
        ),
    )
    op.create_index(op.f("ix_pre_plan_step_plan_id"), "pre_plan_step", ["plan_id"], unique=False)
    op.create_table(
        "pre_plan_execute_node",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("execute_order_id", sa.BigInteger(), nullable=False),
        sa.Column("step_id", sa.BigInteger(), nullable=False),
        sa.Column("parent_node_id", sa.BigInteger(), nullable=True),
        sa.Column("plan_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("atom_id", sa.BigInteger(), nullable=False),
        sa.Column("execute_order", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("parameters", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("strategy", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("pending_parameters", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("decisions", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("output", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["execute_order_id"],
            ["pre_plan_execute_order.id"],
            name=op.f("fk_pre_plan_execute_node_execute_order_id_pre_plan_execute_order"),
        ),
        sa.ForeignKeyConstraint(
            ["parent_node_id"],
            ["pre_plan_execute_node.id"],
            name=op.f("fk_pre_plan_execute_node_parent_node_id_pre_plan_execute_node"),
        ),
        sa.ForeignKeyConstraint(
            ["step_id"],
            ["pre_plan_step.id"],
            name=op.f("fk_pre_plan_execute_node_step_id_pre_plan_step"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pre_plan_execute_node")),
        sa.UniqueConstraint(
            "execute_order_id",
            "step_id",
            name=op.f("uq_pre_plan_execute_node_execute_order_id_step_id"),
        ),
    )
    op.create_index(
        op.f("ix_pre_plan_execute_node_execute_order_id"),
        "pre_plan_execute_node",
        ["execute_order_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_pre_plan_execute_node_execute_order_id"), table_name="pre_plan_execute_node"
    )
    op.drop_table("pre_plan_execute_node")
    op.drop_index(op.f("ix_pre_plan_step_plan_id"), table_name="pre_plan_step")
    op.drop_table("pre_plan_step")
    op.drop_index("ix_pre_plan_execute_order_state", table_name="pre_plan_execute_order")
    op.drop_index(op.f("ix_pre_plan_execute_order_plan_id"), table_name="pre_plan_execute_order")
    op.drop_table("pre_plan_execute_order")
    op.drop_index(op.f("ix_pre_plan_action_param_action_id"), table_name="pre_plan_action_param")
    op.drop_table("pre_plan_action_param")
    op.drop_table("system_config")
    op.drop_table("pre_plan_action")
    op.drop_index("ix_pre_plan_scene_type", table_name="pre_plan")
    op.drop_index("ix_pre_plan_group_id", table_name="pre_plan")
    op.drop_table("pre_plan")
    op.drop_index("ix_init_task_run_task_deployment", table_name="init_task_run")
    op.drop_table("init_task_run")
    op.drop_table("feature_switch")
