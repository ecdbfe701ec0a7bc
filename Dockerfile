# textwire: the server as a non-root user, data on a volume.
# Works on the official python:3.11-slim image and on the local stand-in (Debian's Python 3.11):
# only `python -m pip` / `python -m venv`, no hard-coded interpreter paths.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/textwire \
    PATH=/opt/textwire/bin:$PATH

WORKDIR /app

# OpenCV (through rapidocr-onnxruntime, receipt totals) loads libGL and GLib at import
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*

# The package and its runtime dependencies, pinned by the lock (constraints.txt).
COPY constraints.txt pyproject.toml README.md config.toml ./
COPY bot ./bot
COPY handlers ./handlers
COPY storage ./storage
COPY scheduler ./scheduler
RUN python -m venv /opt/textwire \
    && /opt/textwire/bin/python -m pip install -c constraints.txt . \
    && groupadd --system --gid 10001 textwire \
    && useradd --system --uid 10001 --gid textwire --home-dir /data --shell /usr/sbin/nologin textwire \
    && mkdir -p /data \
    && chown textwire:textwire /data

ENV TEXTWIRE_SERVER_HOST=0.0.0.0 \
    TEXTWIRE_SERVER_DATA_DIR=/data \
    TEXTWIRE_DATABASE_URL=sqlite:////data/textwire.db \
    TEXTWIRE_MEDIA_LOCAL_DIR=/data/media \
    TEXTWIRE_CONFIG=/app/config.toml

USER 10001:10001
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status == 200 else 1)"]
CMD ["textwire", "serve"]
