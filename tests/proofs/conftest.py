"""The S3 server of the proof tests (moto, on loopback) and the settings of a proof store there."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def store_settings(kind: str, storage_dir: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
    """Settings of a proof store of ``kind`` (``local`` or ``s3``, in a new bucket), its staging
    folder (and, for ``local``, its objects) under ``storage_dir``."""
    if kind == "local":
        return {"storage_dir": storage_dir}
    endpoint = request.getfixturevalue("s3_endpoint")
    bucket = f"proofs-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                 aws_secret_access_key="testing").create_bucket(Bucket=bucket)
    return {"storage_dir": storage_dir, "storage_backend": "s3", "s3_bucket": bucket,
            "s3_endpoint_url": endpoint, "s3_region": "us-east-1", "s3_access_key_id": "testing",
            "s3_secret_access_key": "testing"}
