"""The media store: S3 through aioboto3, or a local folder (the embedded default), one interface.

Keys are chosen by the server: `rooms/<room-uuid>/receipts/<receipt-uuid>.<ext>`. Objects are
private. S3 objects are written with server-side encryption and read through short-lived SigV4
presigned URLs; local files are written in a thread (temporary file, then an atomic rename) and
read through a signed route of the app (bot/features/receipts/gallery.py).

A store raises `StoreUnavailable` when it cannot do its job right now (endpoint down, timeout,
throttling, a bucket it cannot write): the caller keeps the message and retries later. `get` of
an object that is not there raises `FileNotFoundError` (S3's NoSuchKey too), and only then: a
store that is down is not a photo that is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from storage.health import disk_room

if TYPE_CHECKING:
    from bot.core.config import MediaConfig, S3Config

KEY_PATTERN = re.compile(
    r"^rooms/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/receipts/"
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.(jpg|png|gif|webp|pdf)$"
)

PROBE_BYTES = 3072  # the local folder's `/readyz` check writes this much (and removes it)
PRESIGN_SECONDS = 300  # members open a photo through a URL of a few minutes
# An S3 put not done by then counts as the store down. botocore's own timeouts do not cover a
# store that takes the connection and never answers (it waits for `100 Continue` without one):
# the photo was held for good, unanswered, and the sender's later texts waited behind it.
PUT_SECONDS = 20.0
# A get not done by then counts as the store down too (a statement's zip fetches each photo).
GET_SECONDS = 20.0


def object_key(room_id: str, receipt_id: str, ext: str) -> str:
    key = f"rooms/{room_id}/receipts/{receipt_id}.{ext}"
    if not KEY_PATTERN.match(key):
        raise ValueError("not a receipt key")
    return key


class StoreUnavailable(Exception):
    """The store is down or refuses writes: retry later."""


class BucketNotFound(StoreUnavailable):
    """`s3.bucket` does not exist at the endpoint (a typo, a bucket not created yet)."""


class AccessDenied(StoreUnavailable):
    """The endpoint refuses the credentials, or they may not use the bucket."""


DENIED_CODES = frozenset(
    {"403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken"}
)


def error_code(exc: BaseException) -> str:
    """S3's error code of a botocore ClientError ("NoSuchKey", "403", ...), or ""."""
    response = getattr(exc, "response", None)
    error = response.get("Error") if isinstance(response, dict) else None
    return str(error.get("Code") or "") if isinstance(error, dict) else ""


def why(exc: BaseException) -> str:
    """An S3 failure in a few words: its class, and S3's code when the class does not say it
    ("ClientError 403" instead of a bare "ClientError", which said nothing to an operator)."""
    name, code = type(exc).__name__, error_code(exc)
    return f"{name} {code}" if code and code != name else name


def unusable(exc: BaseException, bucket: str) -> StoreUnavailable | None:
    """What an S3 failure says the operator must fix, when it says one: the bucket missing, the
    credentials refused, or none found (botocore's NoCredentialsError: nothing in the environment,
    profile or role). None for anything else (the endpoint down, a timeout)."""
    code = error_code(exc)
    if code in ("404", "NoSuchBucket"):
        return BucketNotFound(f"s3.bucket {bucket} does not exist at the endpoint")
    if code in DENIED_CODES:
        return AccessDenied(f"the credentials are refused or may not use s3.bucket {bucket} ({code})")
    from botocore.exceptions import NoCredentialsError  # only when S3 failed: botocore is aioboto3's

    if isinstance(exc, NoCredentialsError):
        return AccessDenied("no AWS credentials were found (environment, profile or role)")
    return None


class MediaStore(Protocol):
    name: str

    async def put(self, key: str, data: bytes, content_type: str) -> None: ...

    async def get(self, key: str) -> bytes: ...

    async def url(self, key: str, expires: int = PRESIGN_SECONDS) -> str: ...

    async def delete(self, key: str) -> None: ...

    async def ping(self) -> None: ...


# -- local folder --------------------------------------------------------------------------------


class LocalMediaStore:
    """Files under `media.local_dir`; URLs come from `signer(key, expires)` (a signed app route)."""

    name = "local"

    def __init__(self, root: str | os.PathLike[str], signer: Callable[[str, int], str]) -> None:
        self.root = Path(root)
        self._signer = signer

    def path_of(self, key: str) -> Path:
        if not KEY_PATTERN.match(key):
            raise ValueError("not a receipt key")
        return self.root / key

    def _write(self, key: str, data: bytes) -> None:
        path = self.path_of(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        try:
            await asyncio.to_thread(self._write, key, data)
        except OSError as exc:
            raise StoreUnavailable(f"local store: {type(exc).__name__}") from None

    async def get(self, key: str) -> bytes:
        try:
            return await asyncio.to_thread(self.path_of(key).read_bytes)
        except FileNotFoundError:
            raise
        except OSError as exc:  # a disk that fails to read is no photo that is gone
            raise StoreUnavailable(f"local store: {type(exc).__name__}") from None

    def _readable(self, key: str) -> Path:
        path = self.path_of(key)
        with path.open("rb"):  # opens: a file that is there but unreadable is no photo that is gone
            pass
        if not stat.S_ISREG(path.stat().st_mode):
            raise IsADirectoryError(str(key))
        return path

    async def file(self, key: str) -> Path:
        """The stored file of `key`, found readable, to be streamed from disk (a web server's
        `FileResponse`) rather than read whole into memory; `FileNotFoundError` when it is gone,
        `StoreUnavailable` when it is there but cannot be read (as `get`)."""
        try:
            return await asyncio.to_thread(self._readable, key)
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise StoreUnavailable(f"local store: {type(exc).__name__}") from None

    async def url(self, key: str, expires: int = PRESIGN_SECONDS) -> str:
        return self._signer(key, expires)

    async def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread(self.path_of(key).unlink)

    def _check(self) -> None:
        """Write, flush to disk and remove a small file (`health.disk_room`): `os.access` passes on
        a full or read-only disk (and always for root)."""
        self.root.mkdir(parents=True, exist_ok=True)
        disk_room(self.root, PROBE_BYTES)

    async def ping(self) -> None:
        await asyncio.to_thread(self._check)

    async def open(self) -> None:
        await asyncio.to_thread(self.root.mkdir, parents=True, exist_ok=True)


# -- S3 ------------------------------------------------------------------------------------------


class S3MediaStore:
    """One aioboto3 client for the app's life (entered by `open` on the app's exit stack)."""

    name = "s3"

    def __init__(self, config: S3Config) -> None:
        self.config = config
        self.bucket = config.bucket
        self._client: Any = None
        self._presigner: Any = None

    def _extra_args(self, content_type: str) -> dict[str, str]:
        extra = {"ContentType": content_type}
        sse = self.config.server_side_encryption
        if sse:
            extra["ServerSideEncryption"] = sse
            if sse == "aws:kms":
                extra["SSEKMSKeyId"] = self.config.kms_key_id
        return extra

    async def open(self, stack: contextlib.AsyncExitStack) -> None:
        import aioboto3
        from botocore.config import Config as BotoConfig

        # botocore finds a proxy in HTTPS_PROXY / HTTP_PROXY (not for a host NO_PROXY lists) by
        # itself, once per client (botocore.utils.get_environ_proxies)
        session = aioboto3.Session()
        boto_config = BotoConfig(
            signature_version="s3v4",
            region_name=self.config.region or None,
            retries={"mode": "standard", "max_attempts": 3},
            connect_timeout=5,
            read_timeout=30,
            max_pool_connections=20,
        )
        endpoint = self.config.endpoint_url or None
        self._client = await stack.enter_async_context(
            session.client(
                "s3", endpoint_url=endpoint, region_name=self.config.region or None, config=boto_config
            )
        )
        public = self.config.public_endpoint_url or None
        if public and public != endpoint:
            # presigning makes no request: this client only signs URLs for the public endpoint
            self._presigner = await stack.enter_async_context(
                session.client(
                    "s3", endpoint_url=public, region_name=self.config.region or None, config=boto_config
                )
            )
        else:
            self._presigner = self._client

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        try:
            async with asyncio.timeout(PUT_SECONDS):
                await self._client.put_object(
                    Bucket=self.bucket, Key=key, Body=data, **self._extra_args(content_type)
                )
        except Exception as exc:  # endpoint down, throttled, bucket missing: not this photo's fault
            raise StoreUnavailable(f"s3 put: {why(exc)}") from None

    async def get(self, key: str) -> bytes:
        try:
            async with asyncio.timeout(GET_SECONDS):
                response = await self._client.get_object(Bucket=self.bucket, Key=key)
                async with response["Body"] as body:
                    data: bytes = await body.read()
        except Exception as exc:
            if error_code(exc) in ("NoSuchKey", "404"):  # not there: gone, not down (NoSuchBucket is down)
                raise FileNotFoundError(key) from None
            raise StoreUnavailable(f"s3 get: {why(exc)}") from None
        return data

    async def url(self, key: str, expires: int = PRESIGN_SECONDS) -> str:
        url: str = await self._presigner.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires
        )
        return url

    async def delete(self, key: str) -> None:
        await self._client.delete_object(Bucket=self.bucket, Key=key)

    async def ping(self) -> None:
        """Raises when the bucket cannot be used; `/readyz` shows the class: `BucketNotFound` and
        `AccessDenied` say what to fix, where a bare `ClientError` said nothing."""
        try:
            await self._client.head_bucket(Bucket=self.bucket)
        except Exception as exc:
            found = unusable(exc, self.bucket)
            if found is not None:
                raise found from None
            raise


async def open_store(
    media: MediaConfig, s3: S3Config, stack: contextlib.AsyncExitStack, signer: Callable[[str, int], str]
) -> MediaStore:
    """The configured store, opened on `stack` (closed with it)."""
    if media.backend == "s3":
        store = S3MediaStore(s3)
        await store.open(stack)
        return store
    local = LocalMediaStore(media.local_dir, signer)
    await local.open()
    return local


__all__ = [
    "KEY_PATTERN",
    "PRESIGN_SECONDS",
    "AccessDenied",
    "BucketNotFound",
    "LocalMediaStore",
    "MediaStore",
    "S3MediaStore",
    "StoreUnavailable",
    "object_key",
    "open_store",
    "unusable",
    "why",
]
