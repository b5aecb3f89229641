# One image for every Scene Weaver role (API, scene worker, webhook worker, Flower, renderer);
# docker-compose.yml picks the command (scene_weaver/stack/roles.py is their one source).
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SCENE_WEAVER_HOME=/data \
    IMAGE_STORE_DIR=/data/images

WORKDIR /app
COPY pyproject.toml README.md ./
COPY scene_weaver ./scene_weaver
COPY workers ./workers
COPY api ./api
RUN pip install --quiet . \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin weaver \
    && mkdir -p /data/images \
    && chown -R weaver /data
# Never root: the code and its packages are root's and read-only to the service user.
USER weaver
VOLUME ["/data"]
EXPOSE 8000 5555 8765 9100
# The role is read from the command the container runs (PID 1): the API answers
# /health/live, a scene worker has a live heartbeat in Redis, the renderer answers /health.
HEALTHCHECK --interval=15s --timeout=10s --start-period=20s --retries=3 \
    CMD ["python", "-m", "scene_weaver.stack.healthcheck"]
CMD ["python", "-m", "gunicorn", "--config", "python:api.gunicorn_conf", "--bind", "0.0.0.0:8000", "--workers", "2", "--graceful-timeout", "5", "api.wsgi:app"]
