"""The engine answers as its OpenAPI document says, for requests generated from that document.

schemathesis draws bodies and path names from ``GET /openapi.json``: bodies the document allows
(positive) and bodies it forbids (negative: wrong types, out-of-range numbers, missing fields,
not an object at all). Every answer must be a documented status with a documented body, a
forbidden body must be refused with a 4xx, and nothing may be a 5xx. schemathesis first tries
each field's boundaries (its coverage phase: the least and most allowed, one past them, each
wrong type, each required field left out), then a bounded number of random bodies per
operation, so the whole run takes well under a minute on two cores. The shapes a document
cannot describe (bytes that are not JSON, numbers past Python's limits, recipes and pictures
given as text) stay in test_hardening.py.
"""

from __future__ import annotations

import shutil

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from engine.serve.app import EngineService, ServeConfig
from engine.serve.openapi import document
from tests.engine.serve.live import LiveServer

EXAMPLES_PER_OPERATION = 20  # drawn at random, beside the boundary cases of every field
REQUEST_TIMEOUT_S = 20
ADMIN_TOKEN = "contract-admin"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]

schema = schemathesis.openapi.from_dict(document())
schema.config.generation.update(
    modes=[schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE],
    max_examples=EXAMPLES_PER_OPERATION,
)


@pytest.fixture(scope="module")
def engine(tiny_checkpoint, tmp_path_factory):
    root = tmp_path_factory.mktemp("contract")
    live = shutil.copytree(tiny_checkpoint, root / "checkpoints" / "default")
    cfg = ServeConfig(
        models=(("default", str(live)),),
        jobs_dir=str(root / "jobs"),
        path_roots=(str(root),),
        admin_token=ADMIN_TOKEN,  # a request without it is refused even from loopback, as documented
    )
    service = EngineService(cfg)
    with LiveServer(service.app()) as server:
        yield server


@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck))
def test_answers_are_the_documented_ones(engine, case):
    url = f"http://{engine.host}:{engine.port}"
    case.call_and_validate(base_url=url, checks=CHECKS, timeout=REQUEST_TIMEOUT_S)
