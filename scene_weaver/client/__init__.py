"""A typed Python client for the Scene Weaver HTTP API, and the CLI commands built on it.

    from scene_weaver.client import SceneWeaverClient

    with SceneWeaverClient("http://127.0.0.1:8000") as client:
        client.login("demo", "demo-password")          # tokens kept in your config directory
        job = client.process({"speaker": "Iris", "dialogue": "Is the lighthouse awake?"})
        for event in client.events(job["job_id"]):     # live, resumes after a dropped connection
            print(event.type, event.data.get("progress"))
        client.save_image(job["job_id"], Path("iris.png"))
"""

from .client import (
    BATCH_FINISHED,
    JOB_FINISHED,
    BatchRecord,
    JobRecord,
    Record,
    ResultLine,
    SceneWeaverClient,
    StreamEvent,
)
from .errors import ApiError, ClientError, NotLoggedIn, ServerUnavailable
from .tokens import Credentials, TokenStore

__all__ = [
    "BATCH_FINISHED",
    "JOB_FINISHED",
    "ApiError",
    "BatchRecord",
    "ClientError",
    "Credentials",
    "JobRecord",
    "NotLoggedIn",
    "Record",
    "ResultLine",
    "SceneWeaverClient",
    "ServerUnavailable",
    "StreamEvent",
    "TokenStore",
]
