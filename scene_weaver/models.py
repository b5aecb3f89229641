"""The domain's data: scenes, woven prompts, job states and priorities."""

from __future__ import annotations

import enum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

__all__ = ["Scene", "WovenPrompt", "JobStatus", "Priority", "TERMINAL_STATUSES"]


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    # Turned away by the open circuit breaker before an attempt: re-queued for when it half-opens.
    WAITING_FOR_SEMANTEST = "waiting_for_semantest"
    STARTED = "started"
    WEAVING = "weaving"
    GENERATING = "generating"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


TERMINAL_STATUSES = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED})
_MAX_LINE_LENGTH = 20000


class Priority(enum.StrEnum):
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


class Scene(BaseModel):
    """One scene to draw: what a parsed script entry or a ``POST /process`` body holds."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    speaker: str = Field(default="", max_length=200)
    dialogue: list[str] = Field(default_factory=list, max_length=200)
    narration: str = Field(default="", max_length=20000)
    entry_id: str | None = Field(default=None, max_length=64)
    panel_count: int = Field(default=1, ge=1, le=12)
    style: str | None = Field(default=None, max_length=64)
    speakers: list[str] = Field(default_factory=list, max_length=50)
    captions: list[str] = Field(default_factory=list, max_length=200)
    stage_directions: list[str] = Field(default_factory=list, max_length=200)
    notes: list[str] = Field(default_factory=list, max_length=200)
    setting: str | None = Field(default=None, max_length=2000)
    looks: dict[Annotated[str, StringConstraints(min_length=1, max_length=200)],
                Annotated[str, StringConstraints(max_length=1000)]] = Field(
        default_factory=dict, max_length=50,
        description="how each character looks here (costume, build); a look the narration states wins")
    anchor: str | None = Field(
        default=None, max_length=1000,
        description="a phrase every picture of a visual group shares, so the group looks consistent")

    @field_validator("dialogue", mode="before")
    @classmethod
    def _dialogue_as_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [value]
        return value

    @field_validator("dialogue", "captions", "stage_directions", "notes")
    @classmethod
    def _lines_bounded(cls, value: list[str]) -> list[str]:
        for line in value:
            if len(line) > _MAX_LINE_LENGTH:
                raise ValueError(f"each line must be at most {_MAX_LINE_LENGTH} characters")
        return value


class WovenPrompt(BaseModel):
    """A scene woven into what Semantest is asked to draw."""

    text: str
    negative: str
    style: str
    content_hash: str
    analysis: dict[str, Any] = Field(default_factory=dict)
