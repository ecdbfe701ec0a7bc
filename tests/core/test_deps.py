"""The services handlers and jobs use are typed fields of one frozen object, built once every
feature has started; the worker, the sender and every scheduled job get that same object (jobs as
their argument, not through a registry)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.app.assembly import build_app
from bot.app.runtime import RUNTIME
from bot.core.config import Config
from bot.features.receipts.media import MediaPipeline
from bot.features.x.accounts import XAccounts
from bot.gateway.links import LinkSigner
from storage.crypto import TokenCipher
from storage.media import LocalMediaStore
from tests.conftest import XBot


async def test_services_are_typed_fields_of_one_frozen_object(xbot: XBot) -> None:
    deps = xbot.runtime.deps
    services = deps.services
    assert isinstance(services.x, XAccounts)
    assert isinstance(services.cipher, TokenCipher)
    assert isinstance(services.link_signer, LinkSigner)
    assert isinstance(services.media_store, LocalMediaStore)
    assert isinstance(services.media_pipeline, MediaPipeline)
    assert services.transport is xbot.runtime.transport
    with pytest.raises(dataclasses.FrozenInstanceError):
        services.x = None  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        deps.services = services  # type: ignore[misc]
    assert xbot.runtime.worker.deps is deps
    assert xbot.runtime.sender.deps is deps


async def test_without_x_its_service_is_none_and_no_refresh_job(bot: Any) -> None:
    assert bot.runtime.deps.services.x is None
    assert bot.runtime.deps.services.media_store is not None
    assert "x-refresh" not in bot.runtime.scheduler.job_ids


async def test_every_job_gets_the_apps_deps_as_its_argument(aiohttp_client: Any, make_config: Any) -> None:
    config: Config = make_config(x={"client_id": "client-1"})
    client: TestClient[Any, Any] = await aiohttp_client(build_app(config))  # with the scheduler
    runtime = client.app[RUNTIME]
    jobs = runtime.scheduler.aps.get_jobs()
    assert {job.id for job in jobs} >= {"retention", "redact-links", "x-refresh", "media-twilio-delete"}
    assert all(job.args == (runtime.deps,) for job in jobs)
    await client.close()
