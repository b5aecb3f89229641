"""Request and response models; the OpenAPI document is generated from these."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from scene_weaver.errors import InvalidInput
from scene_weaver.models import Priority, Scene

__all__ = ["LoginRequest", "ProcessRequest"]


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

    def check_drawable(self) -> None:
        if not (self.dialogue or self.narration or self.captions):
            raise InvalidInput("a scene needs dialogue, narration or a caption",
                               details={"field": "dialogue"})
        for index, line in enumerate(self.dialogue):
            if not line:
                raise InvalidInput("dialogue lines must not be empty",
                                   details={"field": f"dialogue.{index}"})

    def scene(self) -> Scene:
        return Scene.model_validate(self.model_dump(include=set(Scene.model_fields)))

    def job_options(self) -> dict[str, int]:
        options = {"width": self.width, "height": self.height, "seed": self.seed}
        return {name: value for name, value in options.items() if value is not None}
