"""A real S3 endpoint over HTTP for tests: moto's ThreadedMotoServer on loopback (one for the
session), a fresh bucket per test, dummy credentials in the environment, and a bot on it."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

REGION = "us-east-1"


def start_moto(port: int = 0) -> tuple[ThreadedMotoServer, str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    host, bound = server.get_host_and_port()
    return server, f"http://{host}:{bound}"


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    server, endpoint = start_moto()
    yield endpoint
    server.stop()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """Dummy credentials through the standard chain (environment); no profile, no metadata."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    short_s3_backoff(monkeypatch)


BACKOFF_SCALE = 0.01


def short_s3_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's retries (storage/media.py: standard mode, 3 attempts) wait a random 0-1 s, then
    0-2 s, between attempts: a test of an S3 endpoint that is down spent them on every call (a put,
    /readyz's check), seconds of timers and no work. Here they are a hundredth of that; every
    attempt is still made, and the timeouts are as configured."""
    from botocore.retries import standard

    real = standard.ExponentialBackoff.delay_amount

    def short(self: standard.ExponentialBackoff, context: Any) -> float:
        return float(real(self, context)) * BACKOFF_SCALE

    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", short)


@dataclass
class Bucket:
    endpoint: str
    name: str

    def client(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def create(self) -> None:
        self.client().create_bucket(Bucket=self.name)

    async def keys(self) -> list[str]:
        def list_keys() -> list[str]:
            response = self.client().list_objects_v2(Bucket=self.name)
            return sorted(o["Key"] for o in response.get("Contents", []))

        return await asyncio.to_thread(list_keys)

    async def get(self, key: str) -> tuple[bytes, dict[str, Any]]:
        def get_object() -> tuple[bytes, dict[str, Any]]:
            response = self.client().get_object(Bucket=self.name, Key=key)
            return response["Body"].read(), response

        return await asyncio.to_thread(get_object)


@pytest.fixture
def s3_bucket(moto_endpoint: str, aws_env: None) -> Bucket:
    bucket = Bucket(moto_endpoint, "receipts-" + secrets.token_hex(4))
    bucket.create()
    return bucket


def s3_sections(fake_twilio: Any, endpoint: str, bucket: str, **s3: Any) -> dict[str, dict[str, Any]]:
    """Config sections for a bot on S3 (at `endpoint`) and the fake Twilio (API, media, CDN)."""
    return {
        "media": {"backend": "s3"},
        "s3": {"bucket": bucket, "endpoint_url": endpoint, "region": REGION, **s3},
        "twilio": {
            "account_sid": fake_twilio.account_sid,
            "auth_token": fake_twilio.auth_token,
            "from_number": "+15557654321",
            "api_base": fake_twilio.api_base,
            "media_hosts": (fake_twilio.cdn_host,),
            "timeout_seconds": 10.0,  # production's: a test that wants a timeout sets its own
        },
    }
