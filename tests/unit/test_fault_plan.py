"""The fault switch's spec (infra/faults.py): what `complaints run --faults` accepts and refuses."""
from __future__ import annotations

import pytest

from infra.faults import FaultPlan


def test_rates_per_service_operation_and_function_the_most_specific_winning():
    plan = FaultPlan.parse("all=0.2,ses.SendEmail=0.1/throttle+5xx,route_complaint:dynamodb=1,seed=7")
    assert plan.seed == 7
    assert plan.rule("dynamodb", "PutItem", None).rate == 0.2
    assert plan.rule("dynamodb", "PutItem", "route_complaint").rate == 1
    send = plan.rule("sesv2", "SendEmail", None)
    assert (send.rate, send.kinds) == (0.1, ("throttle", "5xx"))
    assert plan.rule("kms", "Decrypt", None) is None  # `all` is the five pipeline services
    assert "route_complaint:dynamodb=1" in plan.describe()


@pytest.mark.parametrize("spec, problem", [
    ("dynamo=0.2", "unknown service"), ("s3=2", "from 0 to 1"), ("s3=lots", "a number"),
    ("s3", "name=value"), ("kinds=slow", "choose from"), ("s3=0.1/slow", "choose from")])
def test_a_bad_spec_is_refused_with_the_reason(spec, problem):
    with pytest.raises(ValueError, match=problem):
        FaultPlan.parse(spec)
