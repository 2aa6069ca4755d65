"""The workflow's configuration (config kind ``workflow``, versioned like routing and SLA):

* ``approval``: which resolution plans a manager must approve before the customer sees them - a
  refund plus compensation above the limit for its currency (a currency without a limit always
  needs approval), a plan containing one of ``types`` (e.g. every replacement of a high-value item),
  or any plan for a case of one of ``priorities``;
* ``confirmation_days``: how long a resolved case waits for the customer's confirmation before it
  closes as "resolved without confirmation";
* ``survey_aspects``: what the satisfaction survey asks the customer to tick (went well / badly);
* ``task_due_days``: the default due date of an investigation task.

The bundled default is ``shared/workflow_config.json``; admins change it with
``PUT /staff/config/workflow``.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

PlanType = Literal["refund", "replacement", "compensation", "repair", "apology", "explanation"]


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class AmountLimit(_Config):
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
    amount: Annotated[Decimal, Field(ge=0)]


class ApprovalRules(_Config):
    limits: list[AmountLimit] = []  # per currency: refund + compensation above it needs a manager
    types: list[PlanType] = []  # a plan with one of these always needs a manager
    priorities: list[Annotated[str, StringConstraints(pattern=r"^P[1-4]$")]] = []  # cases of these priorities too

    @field_validator("limits")
    @classmethod
    def _one_per_currency(cls, limits: list[AmountLimit]) -> list[AmountLimit]:
        currencies = [x.currency for x in limits]
        if len(set(currencies)) != len(currencies):
            raise ValueError("one limit per currency")
        return limits

    def limit_for(self, currency: str) -> Decimal | None:
        return next((x.amount for x in self.limits if x.currency == currency), None)


class SurveyAspect(_Config):
    aspect_id: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
    label: dict[Literal["en", "zh"], Annotated[str, StringConstraints(min_length=1, max_length=80)]]


class WorkflowConfig(_Config):
    approval: ApprovalRules = ApprovalRules()
    confirmation_days: int = Field(7, ge=1, le=60)
    survey_aspects: list[SurveyAspect] = []
    task_due_days: int = Field(3, ge=1, le=90)

    def aspect_ids(self) -> set[str]:
        return {a.aspect_id for a in self.survey_aspects}
