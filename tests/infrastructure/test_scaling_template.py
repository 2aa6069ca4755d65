"""The queue consumers' scaling settings in the packaged template match docs/scaling.md's arithmetic,
and the notifier's pacing divides the SES rate by the same maximum concurrency the template sets."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.infrastructure.test_package import built  # noqa: F401 - the packaged template, built once

CONFIG = Path(__file__).resolve().parents[2] / "functions" / ".chalice" / "config.json"
# function -> (batch size, maximum concurrency): docs/scaling.md, "Settings"
EXPECTED = {"RouteComplaint": (10, 5), "AssignComplaint": (10, 5), "NotifyCustomer": (10, 2), "TakeInEmail": (5, 2)}


@pytest.fixture(scope="module")
def sources(built) -> dict[str, dict]:  # noqa: F811
    out = {}
    for name, res in built.template()["Resources"].items():
        for event in (res.get("Properties", {}).get("Events") or {}).values():
            if event.get("Type") == "SQS":
                out[name] = event["Properties"]
    return out


def test_every_consumer_batches_and_is_bounded_as_the_scaling_doc_says(sources):
    assert set(sources) == set(EXPECTED)
    for fn, (batch, concurrency) in EXPECTED.items():
        props = sources[fn]
        assert props["BatchSize"] == batch, fn
        assert props["MaximumBatchingWindowInSeconds"] == 1, fn
        assert props["ScalingConfig"]["MaximumConcurrency"] == concurrency, fn


def test_the_notifier_paces_for_as_many_containers_as_the_template_allows(sources):
    env = json.loads(CONFIG.read_text(encoding="utf-8"))["environment_variables"]
    assert int(env["NOTIFIER_MAX_CONCURRENCY"]) == sources["NotifyCustomer"]["ScalingConfig"]["MaximumConcurrency"]
