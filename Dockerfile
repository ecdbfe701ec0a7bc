# textwire: the server as a non-root user, data on a volume.
# Works on the official python:3.11-slim image and on the local stand-in (Debian's Python 3.11):
# only `python -m pip` / `python -m venv`, no hard-coded interpreter paths.
#
# Two stages: the build stage installs the package and its pinned dependencies into a venv made
# without pip (the build stage's pip installs into it with --python), so the runtime stage gets
# only that venv: no build/, *.egg-info, source tree, pip, setuptools or caches. Size: the
# extension modules lose their debug symbols (uvloop alone carries 12 MB; the vendored *.libs
# are left as auditwheel made them), no bytecode is kept (about 55 MB; it costs a second or two
# at start-up), and botocore keeps the models of S3 and of the credential chain (STS, SSO) only
# (the other 400 services are 24 MB). OpenCV (under rapidocr, which reads receipt totals) is
# swapped for its headless build of the same version: the same cv2 without the GUI, Qt and
# bundled X11/GL libraries, so the runtime stage needs no libgl1/libglib2.0-0 from apt.
#
# `--build-arg OCR=false` makes the slim image: no receipt OCR (rapidocr-onnxruntime,
# onnxruntime, OpenCV, numpy, shapely, ... and pypdf: only the OCR reader uses them) and
# TEXTWIRE_MEDIA_OCR=false, so receipt amounts come from captions and \AMOUNT. The default
# (OCR=true) is the full image, unchanged.

ARG OCR=true

FROM python:3.11-slim AS build
ARG OCR

ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# strip(1) for the extension modules; this stage is thrown away, so the version does not matter
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends binutils \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY constraints.txt pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY storage ./storage
COPY scheduler ./scheduler
# OCR=false: the project's dependencies from pyproject.toml without the OCR ones (so none of
# theirs is fetched), then the project itself with --no-deps
RUN python -m venv --without-pip /opt/textwire \
    && if [ "$OCR" = false ]; then \
        python -c "import re, tomllib; ocr = {'rapidocr-onnxruntime', 'onnxruntime', 'pypdf'}; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; print('\n'.join(d for d in deps if re.split(r'[<>=!~;\[ ]', d)[0].lower() not in ocr))" > /tmp/requirements.txt \
        && python -m pip --python /opt/textwire/bin/python install --no-compile -c constraints.txt -r /tmp/requirements.txt \
        && python -m pip --python /opt/textwire/bin/python install --no-compile --no-deps . ; \
    else \
        python -m pip --python /opt/textwire/bin/python install --no-compile -c constraints.txt . \
        && python -m pip --python /opt/textwire/bin/python uninstall -y opencv-python \
        && python -m pip --python /opt/textwire/bin/python install --no-compile --no-deps \
            "opencv-python-headless==$(sed -n 's/^opencv-python==//p' constraints.txt)" ; \
    fi \
    && find /opt/textwire -type f -name '*.so' -not -path '*.libs/*' -exec strip --strip-unneeded {} + \
    && find /opt/textwire -depth -type d \( -name tests -o -name __pycache__ \) -path '*/site-packages/*' -exec rm -rf {} + \
    && find /opt/textwire/lib/python3*/site-packages/botocore/data -mindepth 1 -maxdepth 1 -type d \
        ! -name s3 ! -name sts ! -name sso ! -name sso-oidc -exec rm -rf {} +
# babel: the server asks CLDR for currency data in en_US only (bot/features/ledger/money.py), which reads
# root, en and en_US (the other 1000 locales are 32 MB); onnxruntime: its Python tooling for
# converting, quantizing and profiling models is not used to run one, and libonnxruntime.so (34 MB)
# is the C API's library for programs that link it: the Python binding has the runtime built in
# and does not load it (readelf: not NEEDED); twilio: the server uses
# the REST client's `api` domain only (Messages and their Media, bot/channels/twilio/rest.py), and the
# client imports each of the other 38 domains (17 MB) only when it is asked for; phonenumbers: a
# room's default time zone needs its time-zone data only (bot/features/ledger/reminders.py), not
# the place names and carriers of every number (42 MB), which it loads only when asked for them
RUN site=$(echo /opt/textwire/lib/python3*/site-packages) \
    && find "$site/babel/locale-data" -type f ! -name root.dat ! -name en.dat ! -name en_US.dat -delete \
    && find "$site/twilio/rest" -mindepth 1 -maxdepth 1 -type d ! -name api -exec rm -rf {} + \
    && rm -rf "$site/onnxruntime/transformers" "$site/onnxruntime/tools" \
        "$site/onnxruntime/quantization" "$site/onnxruntime/datasets" \
        "$site"/onnxruntime/capi/libonnxruntime.so* \
        "$site/phonenumbers/geodata" "$site/phonenumbers/carrierdata"

# the runtime stage starts from one of these two, as OCR says
FROM python:3.11-slim AS runtime-ocr-true

FROM python:3.11-slim AS runtime-ocr-false
ENV TEXTWIRE_MEDIA_OCR=false

# hadolint ignore=DL3006
FROM runtime-ocr-${OCR}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/textwire \
    PATH=/opt/textwire/bin:$PATH

RUN groupadd --system --gid 10001 textwire \
    && useradd --system --uid 10001 --gid textwire --home-dir /data --shell /usr/sbin/nologin textwire \
    && mkdir -p /data \
    && chown textwire:textwire /data

COPY --from=build /opt/textwire /opt/textwire
COPY config.toml /app/config.toml
WORKDIR /app

ENV TEXTWIRE_SERVER_HOST=0.0.0.0 \
    TEXTWIRE_SERVER_DATA_DIR=/data \
    TEXTWIRE_DATABASE_URL=sqlite:////data/textwire.db \
    TEXTWIRE_MEDIA_LOCAL_DIR=/data/media \
    TEXTWIRE_CONFIG=/app/config.toml

USER 10001:10001
VOLUME ["/data"]
EXPOSE 8080
# probes the port the server listens on (server.port / TEXTWIRE_SERVER_PORT), read from the same config
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-m", "bot.app.healthcheck"]
CMD ["textwire", "serve"]
