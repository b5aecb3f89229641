# One image for every Scene Weaver service; docker-compose picks the command.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    SCENE_WEAVER_HOME=/data \
    IMAGE_STORE_DIR=/data/images

WORKDIR /app
COPY pyproject.toml README.md ./
COPY scene_weaver ./scene_weaver
COPY workers ./workers
COPY api ./api
RUN pip install --quiet . && useradd --create-home --uid 10001 weaver && mkdir -p /data && chown weaver /data
USER weaver
VOLUME ["/data"]
EXPOSE 8000 5555 8765
CMD ["gunicorn", "--config", "python:api.gunicorn_conf", "--bind", "0.0.0.0:8000", "--workers", "2", "api.wsgi:app"]
