"""The S3 media store's answers to what goes wrong: a bucket that does not exist and refused
credentials are named (`/readyz` shows the class), a missing object is `FileNotFoundError`, and
a store that does not answer is `StoreUnavailable`, never a photo that is gone."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.core.config import S3Config
from storage.media import (
    AccessDenied,
    BucketNotFound,
    LocalMediaStore,
    S3MediaStore,
    StoreUnavailable,
    object_key,
)
from tests.fakes.s3 import REGION, Bucket
from tests.ports import free_port

KEY = object_key("11111111-2222-4333-8444-555555555555", "66666666-7777-4888-9999-000000000000", "jpg")


async def opened(stack: contextlib.AsyncExitStack, endpoint: str, bucket: str) -> S3MediaStore:
    store = S3MediaStore(S3Config(bucket=bucket, endpoint_url=endpoint, region=REGION))
    await store.open(stack)
    return store


async def test_a_bucket_that_does_not_exist_is_named(s3_bucket: Bucket) -> None:
    async with contextlib.AsyncExitStack() as stack:
        store = await opened(stack, s3_bucket.endpoint, "typo-" + s3_bucket.name)
        with pytest.raises(BucketNotFound, match=f"s3.bucket typo-{s3_bucket.name} does not exist"):
            await store.ping()
        with pytest.raises(StoreUnavailable, match="NoSuchBucket"):
            await store.get(KEY)  # the store's fault, not a photo that is gone


async def test_a_missing_object_is_gone_and_a_stored_one_comes_back(s3_bucket: Bucket) -> None:
    async with contextlib.AsyncExitStack() as stack:
        store = await opened(stack, s3_bucket.endpoint, s3_bucket.name)
        await store.ping()
        with pytest.raises(FileNotFoundError):
            await store.get(KEY)
        await store.put(KEY, b"\xff\xd8\xff photo", "image/jpeg")
        assert await store.get(KEY) == b"\xff\xd8\xff photo"


async def test_refused_credentials_are_named_not_a_bare_client_error(
    aiohttp_server: Callable[..., Awaitable[TestServer]], aws_env: None
) -> None:
    """An endpoint that refuses the keys answers HEAD with a bare 403: /readyz said "down:
    ClientError" for it, as for a bucket that is not there or a 500."""

    async def forbidden(request: web.Request) -> web.Response:
        return web.Response(status=403)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forbidden)
    server: Any = await aiohttp_server(app)
    async with contextlib.AsyncExitStack() as stack:
        store = await opened(stack, str(server.make_url("")).rstrip("/"), "receipts")
        with pytest.raises(AccessDenied, match=r"credentials are refused .* s3.bucket receipts \(403\)"):
            await store.ping()


async def test_an_endpoint_that_is_down_is_unavailable_not_gone(aws_env: None) -> None:
    async with contextlib.AsyncExitStack() as stack:
        store = await opened(stack, f"http://127.0.0.1:{free_port()}", "receipts")
        with pytest.raises(StoreUnavailable, match="EndpointConnectionError"):
            await store.get(KEY)


def test_no_credentials_are_named_as_a_bucket_refused_is() -> None:
    """botocore's NoCredentialsError (nothing in the environment, profile or role) says what to
    fix as a refused key does, for `/readyz` and the start-up block alike; an endpoint that is
    down says nothing to fix."""
    from botocore.exceptions import EndpointConnectionError, NoCredentialsError

    from storage.media import unusable

    found = unusable(NoCredentialsError(), "receipts")
    assert isinstance(found, AccessDenied)
    assert str(found) == "no AWS credentials were found (environment, profile or role)"
    assert unusable(EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), "receipts") is None


async def test_a_local_file_is_found_gone_or_unreadable(tmp_path: Any) -> None:
    """`LocalMediaStore.file`: the path of a stored photo to stream, `FileNotFoundError` when it
    is gone, `StoreUnavailable` when it is there but cannot be read (a folder where it was)."""
    store = LocalMediaStore(tmp_path / "media", lambda key, expires: key)
    await store.open()
    await store.put(KEY, b"\xff\xd8\xffphoto", "image/jpeg")
    path = await store.file(KEY)
    assert path == tmp_path / "media" / KEY
    assert path.read_bytes() == b"\xff\xd8\xffphoto"
    path.unlink()
    with pytest.raises(FileNotFoundError):
        await store.file(KEY)
    path.mkdir()
    with pytest.raises(StoreUnavailable, match="IsADirectoryError"):
        await store.file(KEY)
    with pytest.raises(ValueError, match="not a receipt key"):
        await store.file("../textwire.db")
