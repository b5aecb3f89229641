"""The processes behind ``scene-weaver up``: the supervisor, the embedded Redis, child-process hygiene.

Everything here starts or stops an operating-system process and names the entry points
(``workers.main``, ``api.wsgi:app``) by string; the rest of ``scene_weaver`` is the domain.
"""

from .children import die_with_parent
from .redis_server import EmbeddedRedis, free_port, redis_server_binary
from .supervisor import Supervisor, run_up

__all__ = ["EmbeddedRedis", "Supervisor", "die_with_parent", "free_port", "redis_server_binary", "run_up"]
