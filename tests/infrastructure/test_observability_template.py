"""The packaged template's alarms and dashboard (``make package``, offline): an operator hears of every
dead-letter queue that fills, every function that fails or is throttled, API 5xx, SLA breaches and the
email reputation, on the OperatorAlerts topic; the dashboard shows every function and queue.

Built once per module (tests/infrastructure/test_package.py's ``built``); cfn-lint runs there.
"""
from __future__ import annotations

import json
from typing import Any

from shared import metrics
from tests.infrastructure.test_package import built  # noqa: F401 - the packaged template, built once here


def _resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {n: r for n, r in template["Resources"].items() if r.get("Type") == kind}


def _functions(template):
    return _resources(template, "AWS::Serverless::Function")


def _alarms(template):
    return _resources(template, "AWS::CloudWatch::Alarm")


def _dead_letter_queues(template) -> set[str]:
    out = set()
    for queue in _resources(template, "AWS::SQS::Queue").values():
        target = ((queue.get("Properties") or {}).get("RedrivePolicy") or {}).get("deadLetterTargetArn")
        if target:
            out.add(target["Fn::GetAtt"][0])
    return out


def _metric_refs(alarm: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """(namespace, metric name, first dimension value) of every metric an alarm reads."""
    props = alarm["Properties"]
    if "MetricName" in props:
        return [(props["Namespace"], props["MetricName"], (props.get("Dimensions") or [{}])[0].get("Value"))]
    return [(m["MetricStat"]["Metric"]["Namespace"], m["MetricStat"]["Metric"]["MetricName"],
             m["MetricStat"]["Metric"]["Dimensions"][0]["Value"]) for m in props["Metrics"] if "MetricStat" in m]


def test_every_dead_letter_queue_has_an_alarm_when_not_empty(built):  # noqa: F811
    template = built.template()
    dlqs = _dead_letter_queues(template)
    assert {"RouterDeadLetterQueue", "NotifierDeadLetterQueue", "EmailIntakeDeadLetterQueue"} <= dlqs
    watched = {}
    for name, alarm in _alarms(template).items():
        for namespace, metric, value in _metric_refs(alarm):
            if namespace == "AWS/SQS" and metric == "ApproximateNumberOfMessagesVisible":
                watched[value["Fn::GetAtt"][0]] = alarm["Properties"]
    assert dlqs <= set(watched), f"dead-letter queues without an alarm: {sorted(dlqs - set(watched))}"
    for queue in dlqs:
        props = watched[queue]
        assert props["Threshold"] == 0 and props["ComparisonOperator"] == "GreaterThanThreshold"
        assert props["EvaluationPeriods"] == 1


def test_every_function_has_an_error_rate_alarm_and_a_throttle_alarm(built):  # noqa: F811
    template = built.template()
    functions = set(_functions(template))
    assert {"APIHandler", "RouteComplaint", "NotifyCustomer", "SweepSla"} <= functions
    errors, throttles = set(), set()
    for alarm in _alarms(template).values():
        refs = _metric_refs(alarm)
        names = {metric for namespace, metric, _ in refs if namespace == "AWS/Lambda"}
        fns = {value["Ref"] for namespace, _, value in refs if namespace == "AWS/Lambda"}
        if names == {"Errors", "Invocations"}:
            assert len(fns) == 1
            [expression] = [m["Expression"] for m in alarm["Properties"]["Metrics"] if m.get("ReturnData")]
            assert "errors / invocations" in expression  # a rate, not a count
            errors |= fns
        if names == {"Throttles"}:
            throttles |= fns
    assert functions - errors == set(), "functions without an error-rate alarm"
    assert functions - throttles == set(), "functions without a throttle alarm"


def test_every_alarm_notifies_the_operators_and_refers_to_the_template(built):  # noqa: F811
    template = built.template()
    assert template["Resources"]["OperatorAlerts"]["Type"] == "AWS::SNS::Topic"
    alarms = _alarms(template)
    assert len(alarms) >= len(_functions(template)) + 5
    for name, alarm in alarms.items():
        props = alarm["Properties"]
        assert props["AlarmActions"] == [{"Ref": "OperatorAlerts"}], name
        assert props["OKActions"] == [{"Ref": "OperatorAlerts"}], name
        assert props["TreatMissingData"] == "notBreaching", name  # no traffic is not an incident
        for _, _, value in _metric_refs(alarm):
            if isinstance(value, dict):
                target = value.get("Ref") or value.get("Fn::GetAtt", [None])[0]
                assert target in template["Resources"], (name, value)


def test_api_5xx_sla_breaches_and_email_reputation_are_alarmed(built):  # noqa: F811
    template = built.template()
    refs = {(ns, metric): alarm["Properties"] for alarm in _alarms(template).values()
            for ns, metric, _ in _metric_refs(alarm)}
    api = refs[("AWS/ApiGateway", "5XXError")]
    api_name = template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]["info"]["title"]
    stage = template["Resources"]["RestAPI"]["Properties"]["StageName"]
    assert {d["Name"]: d["Value"] for d in api["Dimensions"]} == {"ApiName": api_name, "Stage": stage}
    sla = refs[(metrics.NAMESPACE_DEFAULT, metrics.SLA_BREACHES)]
    assert sla["Threshold"] == {"Ref": "SlaBreachAlarmThreshold"}
    assert "SlaBreachAlarmThreshold" in template["Parameters"]
    # the dimension the sweep emits with: the Powertools service name every function runs with
    service = next(iter(_functions(template).values()))["Properties"]["Environment"]["Variables"][
        "POWERTOOLS_SERVICE_NAME"]
    assert sla["Dimensions"] == [{"Name": "service", "Value": service}]
    for metric in ("Reputation.BounceRate", "Reputation.ComplaintRate"):
        ses = refs[("AWS/SES", metric)]
        assert ses["Dimensions"] == [{"Name": "ses:configuration-set", "Value": {"Ref": "SesConfigurationSet"}}]
        assert 0 < ses["Threshold"] < 0.05


def test_the_dashboard_shows_the_pipeline_and_every_function(built):  # noqa: F811
    template = built.template()
    [dashboard] = _resources(template, "AWS::CloudWatch::Dashboard").values()
    body_template = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
    body = json.loads(body_template)  # valid JSON once substituted (no ${} inside JSON syntax)
    text = json.dumps(body)
    for function in _functions(template):
        assert "${%s}" % function in body_template, function
    for queue in ("RouterQueue", "AssignmentQueue", "NotifierQueue", "EmailIntakeQueue", *_dead_letter_queues(template)):
        assert "${%s.QueueName}" % queue in body_template, queue
    for name in metrics.METRICS:
        assert name in text, name
    for reference in {part.split("}")[0] for part in body_template.split("${")[1:]}:
        assert reference.split(".")[0] in template["Resources"] or reference in ("AWS::Region", "Stage"), reference
    titles = [w["properties"].get("title", "") for w in body["widgets"] if w["type"] == "metric"]
    assert any("Age of the oldest message" in t for t in titles) and any("Dead-letter" in t for t in titles)
