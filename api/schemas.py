"""Request models (bodies and query strings); the OpenAPI document is generated from these."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from scene_weaver.errors import InvalidInput
from scene_weaver.models import JobStatus, Priority, Scene
from scene_weaver.script import FORMATS

__all__ = ["LoginRequest", "ProcessRequest", "ProcessQuery", "ParseRequest", "JobListQuery", "EventsQuery",
           "WebhookEvent", "BatchRequest", "BatchEntry", "BatchListQuery", "BatchItemsQuery"]

WebhookEvent = Literal["started", "progress", "completed"]


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class ProcessRequest(Scene):
    """A scene to draw, plus how to run the job."""

    speaker: str = Field(min_length=1, max_length=200)
    priority: Priority = Priority.NORMAL
    width: int | None = Field(default=None, ge=64, le=2048)
    height: int | None = Field(default=None, ge=64, le=2048)
    seed: int | None = Field(default=None, ge=-1, le=2**32 - 1)
    force: bool = Field(default=False, description="draw the picture even if an identical one was drawn "
                                                   "(the result cache is refreshed, not read)")
    webhook_url: str | None = Field(default=None, min_length=1, max_length=2000,
                                    description="http(s) URL that receives signed event deliveries")
    webhook_events: list[WebhookEvent] | None = Field(
        default=None, min_length=1, max_length=3,
        description="which events to deliver (default: all of started, progress, completed)")

    def check_drawable(self) -> None:
        if not (self.dialogue or self.narration or self.captions):
            raise InvalidInput("a scene needs dialogue, narration or a caption",
                               details={"field": "dialogue"})
        for index, line in enumerate(self.dialogue):
            if not line:
                raise InvalidInput("dialogue lines must not be empty",
                                   details={"field": f"dialogue.{index}"})
        if self.webhook_events and not self.webhook_url:
            raise InvalidInput("webhook_events needs a webhook_url", details={"field": "webhook_url"})

    def scene(self) -> Scene:
        return Scene.model_validate(self.model_dump(include=set(Scene.model_fields)))

    def job_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"width": self.width, "height": self.height, "seed": self.seed,
                                   "webhook_url": self.webhook_url, "force": self.force or None}
        if self.webhook_url:
            options["webhook_events"] = sorted(set(self.webhook_events or ("started", "progress", "completed")))
        return {name: value for name, value in options.items() if value is not None}


class ProcessQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    dry_run: bool = Field(default=False, description="weave the prompt now and answer it; no job is made")


class ParseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    script: str = Field(max_length=2_000_000, description="the script's text")
    format: Literal[FORMATS] = "auto"  # type: ignore[valid-type]
    strict: bool = Field(default=False, description="any warning makes the answer a 422 listing all of them")


class JobListQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    limit: int = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(default=None, max_length=200, description="next_cursor of the previous page")
    offset: int | None = Field(default=None, ge=0, le=1_000_000, description="instead of cursor")
    status: JobStatus | None = None


class EventsQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    last_event_id: str | None = Field(default=None, max_length=64, pattern=r"^(0|\d{1,20}-\d{1,20})$",
                                      description="replay events after this id (or send Last-Event-ID)")


class BatchEntry(Scene):
    """One scene of a batch given as ``entries`` (it has the batch's priority and options)."""

    speaker: str = Field(min_length=1, max_length=200)

    def check_drawable(self) -> None:
        if not (self.dialogue or self.narration or self.captions):
            raise InvalidInput("a scene needs dialogue, narration or a caption", details={"field": "dialogue"})


class BatchRequest(BaseModel):
    """A whole script (or a list of scenes) to draw as one batch."""

    model_config = ConfigDict(extra="forbid")

    script: str | None = Field(default=None, description="the script's text (or send entries)")
    entries: list[dict[str, Any]] | None = Field(default=None, description="scenes, as POST /process takes them")
    format: Literal[FORMATS] = "auto"  # type: ignore[valid-type]
    strict: bool = Field(default=False, description="any parse warning makes the answer a 422 listing all of them")
    style: str | None = Field(default=None, min_length=1, max_length=64, description="style of every item")
    priority: Priority = Field(default=Priority.NORMAL, description="priority of every item")
    webhook_url: str | None = Field(default=None, min_length=1, max_length=2000,
                                    description="http(s) URL told when the batch ends")
    webhook_events: list[Literal["completed"]] | None = Field(default=None, min_length=1, max_length=1)
    force: bool = Field(default=False, description="draw every item anew: bypass the result cache")


class BatchListQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    limit: int = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(default=None, max_length=200, description="next_cursor of the previous page")


class BatchItemsQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    limit: int = Field(default=50, ge=1, le=500)
    cursor: str | None = Field(default=None, max_length=20, pattern=r"^\d{1,9}$",
                               description="next_cursor of the previous page (an item index)")
    status: JobStatus | None = None
