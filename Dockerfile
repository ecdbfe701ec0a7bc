# textwire: the server as a non-root user, data on a volume.
# Works on the official python:3.11-slim image and on the local stand-in (Debian's Python 3.11):
# only `python -m pip` / `python -m venv`, no hard-coded interpreter paths.
#
# Two stages: the build stage installs the package and its pinned dependencies into a venv made
# without pip (the build stage's pip installs into it with --python), so the runtime stage gets
# only that venv: no build/, *.egg-info, source tree, pip, setuptools or caches. Size: the
# extension modules and the libraries wheels vendor in *.libs lose their symbol tables (uvloop
# alone carries 12 MB; x265, GEOS, OpenSSL and libheif 5 MB), no bytecode is kept (about 55 MB;
# it costs a second or two at start-up), and botocore keeps the models of S3 and of the credential chain (STS, SSO) only
# (the other 400 services are 24 MB). OpenCV and numpy (under rapidocr, which reads receipt
# totals) are built here from their pinned releases' sources (see below), not taken as wheels.
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

# strip(1) for the extension modules and, for the OCR build, a C++ compiler, CMake and Ninja for
# OpenCV and numpy (and Python's headers where the base has none: the official image has them in
# /usr/local, the local stand-in's Debian Python needs python3-dev); this stage is thrown away,
# so the versions do not matter
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends binutils \
    && if [ "$OCR" != false ]; then \
        apt-get install -y --no-install-recommends g++ cmake ninja-build \
        && { python -c "import os, sys, sysconfig; sys.exit(not os.path.exists(os.path.join(sysconfig.get_path('include'), 'Python.h')))" \
            || apt-get install -y --no-install-recommends python3-dev ; } ; \
    fi \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY constraints.txt ./
# OCR=true: OpenCV is built from the sdist of opencv-python-headless at opencv-python's pinned
# version, with the modules rapidocr calls only (core, imgproc and the geometry it needs for
# contours, imgcodecs with its own PNG and JPEG, features for the binding's type stubs) and none of
# FFmpeg, OpenBLAS/LAPACK, OpenCL, IPP or the image formats it would link: a 20 MB cv2 where the
# wheel's is 72 MB and links 81 MB of libraries; every call rapidocr makes gives the same result
# (bench/receipts' 308 receipts read box for box the same, BENCHMARKS.md). The typing-stub
# generator names functions of left-out modules and gives up, and with it the package's py.typed,
# which the sdist's setup.py requires: the patch lets it skip those names. numpy is built from its
# pinned sdist without BLAS (nothing in this stage provides a LAPACK either, so its linalg uses the
# subset numpy carries): OCR does no linear algebra, and the wheel's OpenBLAS is 28 MB. Both take
# about 15 minutes on two cores; each is a layer of its own, before the source is copied, so a
# change of textwire's code does not build them again (a change of constraints.txt does).
ENV OPENCV_CMAKE_ARGS="-DBUILD_LIST=core,imgproc,imgcodecs,features,python3 -DWITH_UNIFONT=OFF \
-DWITH_FFMPEG=OFF -DWITH_GSTREAMER=OFF -DWITH_V4L=OFF -DWITH_LAPACK=OFF -DWITH_OPENCL=OFF \
-DWITH_IPP=OFF -DWITH_ITT=OFF -DWITH_EIGEN=OFF -DWITH_PROTOBUF=OFF -DWITH_ADE=OFF -DWITH_TIFF=OFF \
-DWITH_WEBP=OFF -DWITH_OPENJPEG=OFF -DWITH_JASPER=OFF -DWITH_OPENEXR=OFF -DBUILD_OPENEXR=OFF \
-DWITH_AVIF=OFF -DWITH_JPEGXL=OFF -DWITH_IMGCODEC_HDR=OFF -DWITH_IMGCODEC_SUNRASTER=OFF \
-DWITH_IMGCODEC_PXM=OFF -DWITH_IMGCODEC_PFM=OFF -DWITH_GDAL=OFF -DWITH_GDCM=OFF -DWITH_1394=OFF \
-DWITH_VA=OFF -DWITH_VA_INTEL=OFF -DWITH_SPNG=OFF -DBUILD_PNG=ON -DBUILD_JPEG=ON -DBUILD_ZLIB=ON"
RUN if [ "$OCR" != false ]; then \
        cv=$(sed -n 's/^opencv-python==//p' constraints.txt) \
        && python -m pip download --no-deps --no-binary opencv-python-headless -d /tmp/ocv "opencv-python-headless==$cv" \
        && tar -xzf "/tmp/ocv/opencv_python_headless-$cv.tar.gz" -C /tmp/ocv \
        && python -c "import pathlib, sys; p = pathlib.Path(sys.argv[1]); s = p.read_text(); old = '        refine_symbol(root, symbol_name)\n'; assert s.count(old) == 1; p.write_text(s.replace(old, '        try:\n            refine_symbol(root, symbol_name)\n        except Exception:\n            pass\n'))" \
            "/tmp/ocv/opencv_python_headless-$cv/opencv/modules/python/src2/typing_stubs_generation/api_refinement.py" \
        && ENABLE_HEADLESS=1 CMAKE_ARGS="$OPENCV_CMAKE_ARGS" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
            python -m pip wheel --no-deps -w /tmp/wheels "/tmp/ocv/opencv_python_headless-$cv" \
        && rm -rf /tmp/ocv ; \
    fi
RUN if [ "$OCR" != false ]; then \
        python -m pip wheel --no-deps --no-binary numpy -w /tmp/wheels \
            "numpy==$(sed -n 's/^numpy==//p' constraints.txt)" --config-settings=setup-args=-Dblas=none ; \
    fi
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY storage ./storage
COPY scheduler ./scheduler
# OCR=false: the project's dependencies from pyproject.toml without the OCR ones (so none of
# theirs is fetched), then the project itself with --no-deps; OCR=true: everything, then the
# wheels built above in place of opencv-python and numpy
RUN python -m venv --without-pip /opt/textwire \
    && if [ "$OCR" = false ]; then \
        python -c "import re, tomllib; ocr = {'rapidocr-onnxruntime', 'onnxruntime', 'pypdf'}; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; print('\n'.join(d for d in deps if re.split(r'[<>=!~;\[ ]', d)[0].lower() not in ocr))" > /tmp/requirements.txt \
        && python -m pip --python /opt/textwire/bin/python install --no-compile -c constraints.txt -r /tmp/requirements.txt \
        && python -m pip --python /opt/textwire/bin/python install --no-compile --no-deps . ; \
    else \
        python -m pip --python /opt/textwire/bin/python install --no-compile -c constraints.txt . \
        && python -m pip --python /opt/textwire/bin/python uninstall -y opencv-python numpy \
        && python -m pip --python /opt/textwire/bin/python install --no-compile --no-deps /tmp/wheels/*.whl ; \
    fi \
    && find /opt/textwire -type f \( -name '*.so' -o -path '*.libs/*.so*' \) -exec strip --strip-unneeded {} + \
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
# the place names and carriers of every number (42 MB), which it loads only when asked for them;
# Pillow: its AVIF plugin and the libavif it links (5 MB), a format textwire does not take (a
# receipt is JPEG, PNG, GIF, WebP, HEIF or PDF, bot/features/receipts/media.py), and without which
# Pillow says AVIF is not supported; numpy: f2py and distutils, its tools for building Fortran
# and C extensions, and the _simd module only its own tests import; type stubs, Cython sources and
# C headers no process reads
RUN site=$(echo /opt/textwire/lib/python3*/site-packages) \
    && find "$site/babel/locale-data" -type f ! -name root.dat ! -name en.dat ! -name en_US.dat -delete \
    && find "$site/twilio/rest" -mindepth 1 -maxdepth 1 -type d ! -name api -exec rm -rf {} + \
    && rm -rf "$site/onnxruntime/transformers" "$site/onnxruntime/tools" \
        "$site/onnxruntime/quantization" "$site/onnxruntime/datasets" \
        "$site"/onnxruntime/capi/libonnxruntime.so* \
        "$site/phonenumbers/geodata" "$site/phonenumbers/carrierdata" \
        "$site"/PIL/_avif.*.so "$site"/pillow.libs/libavif-*.so* \
        "$site/numpy/f2py" "$site/numpy/distutils" "$site"/numpy/_core/_simd.*.so /opt/textwire/bin/f2py \
    && find "$site" -type f \( -name '*.pyi' -o -name '*.pyx' -o -name '*.pxd' -o -name '*.h' -o -name '*.hpp' \) -delete

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

# the database (sqlite:////data/textwire.db) and the local media (/data/media) follow
# server.data_dir: set here, they stayed in /data when TEXTWIRE_SERVER_DATA_DIR moved the rest
ENV TEXTWIRE_SERVER_HOST=0.0.0.0 \
    TEXTWIRE_SERVER_DATA_DIR=/data \
    TEXTWIRE_CONFIG=/app/config.toml

USER 10001:10001
VOLUME ["/data"]
EXPOSE 8080
# probes the port the server listens on (server.port / TEXTWIRE_SERVER_PORT), read from the same config
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-m", "bot.app.healthcheck"]
CMD ["textwire", "serve"]
