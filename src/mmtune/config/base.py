"""The strict pydantic base every config section shares: unknown keys are errors (parse.py
reports them all at once, with Axolotl's keys sorted into acted on / no effect / refused)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=())
