"""Talking to Semantest: sessions in two dialects, pooled, behind a fleet-wide breaker."""

from .breaker import CircuitBreaker, Permit
from .events_session import EventsSession
from .models import GeneratedImage, GenerationRequest
from .pool import ServiceTerms, SessionPool
from .semaphore import GlobalSemaphore
from .session import BaseSession
from .weaver_session import WeaverSession

__all__ = [
    "GenerationRequest",
    "GeneratedImage",
    "ServiceTerms",
    "SessionPool",
    "CircuitBreaker",
    "Permit",
    "GlobalSemaphore",
    "BaseSession",
    "WeaverSession",
    "EventsSession",
]
