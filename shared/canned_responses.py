"""Canned responses (config kind ``responses``): texts a handler starts a reply from, per category and
language. ``{number}`` and ``{name}``-style placeholders are filled by the handler, not here: the
texts are shown as they are written. The bundled default is ``shared/responses_config.json``."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CannedResponse(_Config):
    response_id: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,59}$")]
    language: Literal["zh", "en"]
    categories: list[Annotated[str, StringConstraints(min_length=1, max_length=40)]] = []  # [] = every category
    purpose: Literal["reply", "request_information", "resolution", "any"] = "any"
    title: Annotated[str, StringConstraints(min_length=1, max_length=120)]
    text: Annotated[str, StringConstraints(min_length=1, max_length=5_000)]


class ResponsesConfig(_Config):
    responses: Annotated[list[CannedResponse], Field(max_length=500)] = []

    @field_validator("responses")
    @classmethod
    def _unique(cls, responses: list[CannedResponse]) -> list[CannedResponse]:
        ids = [r.response_id for r in responses]
        if len(set(ids)) != len(ids):
            raise ValueError("response_id must be unique")
        return responses

    def for_case(self, category: str | None, language: str) -> list[CannedResponse]:
        """The responses in ``language`` for ``category`` (specific ones first, then the general ones)."""
        fitting = [r for r in self.responses if r.language == language
                   and (not r.categories or (category is not None and category in r.categories))]
        return sorted(fitting, key=lambda r: (not r.categories, r.response_id))
