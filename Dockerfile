# syntax=docker/dockerfile:1
# The bff image: the BFF under gunicorn by default; the same image runs the reference
# authorization server (`bff authserver`) and the demo API (`bff demo-api`) in compose.yaml.
#
#   docker build -t bff .
#   docker run --rm -p 8000:8000 -v ./routes.toml:/etc/bff/routes.toml:ro \
#     -e BFF_CONFIG=/etc/bff/routes.toml -e BFF_BASE_URL=https://app.example.com \
#     -e BFF_ISSUER=... -e BFF_CLIENT_ID=... -e BFF_CLIENT_SECRET=... -e BFF_SECRET_KEYS=... \
#     -e BFF_REDIS_URL=redis://redis:6379/0 -e BFF_FRONTEND_DIR=/srv/spa -v ./dist:/srv/spa:ro bff
#
# Settings: docs/settings.md. Server settings (BFF_BIND, BFF_WORKERS, BFF_THREADS, ...):
# config/gunicorn.conf.py.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# Stage 1: install the package and its dependencies into a virtual environment.
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
RUN python -m venv /opt/bff
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bff ./bff
# The production extra brings gevent, the worker class config/gunicorn.conf.py picks.
RUN /opt/bff/bin/pip install ".[production]"

# Stage 2: the runtime, with only the environment, the config files and the demo SPA.
FROM ${PYTHON_IMAGE}
ENV PATH=/opt/bff/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN groupadd --system --gid 10001 bff \
    && useradd --system --uid 10001 --gid bff --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin bff \
    && mkdir -p /var/lib/bff/authserver-keys \
    && chown -R 10001:10001 /var/lib/bff
COPY --from=build /opt/bff /opt/bff
WORKDIR /app
COPY config ./config
COPY frontend/index.html frontend/app.js frontend/styles.css frontend/bff-client.js \
     frontend/favicon.svg ./frontend/
USER 10001:10001
EXPOSE 8000
# /healthz answers while the process is up; readiness (Redis and provider) is /readyz.
HEALTHCHECK --interval=15s --timeout=3s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
CMD ["gunicorn", "-c", "config/gunicorn.conf.py", "bff.app:create_app()"]
