"""A real S3-compatible server for tests: moto's, on 127.0.0.1, and settings pointing the
recordings at a fresh private bucket in it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import boto3
import pytest
from moto.server import ThreadedMotoServer

KEYS = {"aws_access_key_id": "test-key", "aws_secret_access_key": "test-secret"}
REGION = "us-east-1"


@dataclass
class Bucket:
    endpoint: str
    name: str
    client: object  # a boto3 S3 client with the keys

    def keys(self) -> list[str]:
        listing = self.client.list_objects_v2(Bucket=self.name)
        return [item["Key"] for item in listing.get("Contents", [])]

    def read(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.name, Key=key)["Body"].read()


@pytest.fixture(scope="session")
def s3_server():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(s3_server, settings) -> Bucket:
    """Recordings go to a new private bucket (as RECORDINGS_S3_BUCKET etc. would configure)."""
    name = f"recordings-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=s3_server, region_name=REGION, **KEYS)
    client.create_bucket(Bucket=name)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": name,
                "endpoint_url": s3_server,
                "region_name": REGION,
                "access_key": KEYS["aws_access_key_id"],
                "secret_key": KEYS["aws_secret_access_key"],
                "default_acl": None,
                "querystring_auth": True,
                "file_overwrite": False,
                "signature_version": "s3v4",
                "addressing_style": "path",
            },
        },
    }
    settings.RECORDINGS_PRESIGNED_SECONDS = 300
    return Bucket(s3_server, name, client)
