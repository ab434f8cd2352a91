# syntax=docker/dockerfile:1.7
# The API (`handbook api`) and, later, the worker (`handbook worker`) run from this one image.
#   docker build -t handbook .
#   docker run -e AUTH__SECRET_KEY=... -e DATABASE_URL=postgresql://... -e SMS__GATEWAY=http \
#     -e SMS__URL=... -e SMS__API_KEY=... -p 8000:8000 handbook
ARG PYTHON_VERSION=3.12
ARG UV_VERSION=0.13.9

FROM ghcr.io/astral-sh/uv:${UV_VERSION} AS uv

# --- build: resolve the locked dependencies into /app/.venv --------------------------------------
FROM python:${PYTHON_VERSION}-slim-bookworm AS build
COPY --from=uv /uv /uvx /bin/
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON_PREFERENCE=only-system \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /app
# Dependencies first: this layer is reused until uv.lock changes.
COPY pyproject.toml uv.lock README.md ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-project
COPY app ./app
COPY migrations ./migrations
COPY openapi ./openapi
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev

# --- runtime: no build tools, no uv, a non-root user --------------------------------------------
FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
# Tesseract with its Vietnamese model: the worker reads scanned PDFs by OCR (OCR__MODE=off to skip).
RUN apt-get update \
 && apt-get install -y --no-install-recommends tesseract-ocr tesseract-ocr-vie \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 handbook \
 && useradd --system --uid 10001 --gid handbook --home-dir /app --shell /usr/sbin/nologin handbook
WORKDIR /app
COPY --from=build --chown=root:root /app /app
RUN mkdir -p /app/var && chown handbook:handbook /app/var
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOST=0.0.0.0 \
    PORT=8000 \
    DATA_DIR=/app/var
USER handbook
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '8000') + '/healthz', timeout=3)"]
CMD ["handbook", "api"]
