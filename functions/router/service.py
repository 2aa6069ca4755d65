"""The router's first job on ``ComplaintReceived``: what is the complaint about, how urgent is it,
does it repeat an earlier one - each decision explained, so that a handler can accept or correct it.

One delivery of the event:

1. read the case (without contact data: the stored keyed hashes suffice to find the customer's
   other cases); if it is no longer ``received``, the work was done: only what its outbox still
   owes is finished (a redelivery, or a retry after a failed publish);
2. classify the text (the model is loaded once per container; a model that cannot be loaded
   fails the delivery: the message returns to the queue and, in the end, to the DLQ - never a
   default label);
3. look for the case it repeats: the same customer's open or recent cases (by contact hash, any
   channel) and the same order's, by text similarity (:mod:`functions.router.duplicates`);
4. count other customers reporting the same product batch or order in the window (a cluster; a
   group complaint from ``GROUP_COMPLAINT_THRESHOLD`` customers);
5. assess the priority (:mod:`functions.router.priority`);
6. write it all in one transaction, conditional on the versions read: the case goes
   ``received -> classified`` with its decision and timeline entries; a repeat raises its
   original's repeat count and priority and adds to its timeline; the order/batch index, the triage
   queue and the outbox item are written with it. On a conflict everything is read again;
7. finish the outbox: mark the other cluster members, publish ``ComplaintClassified``, clear it.

A repeat is classified like any case but carries ``repeat_of``: it is not a work item of its own
(routing skips it) unless staff split it; low confidence puts a case on the triage queue instead
of routing it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Protocol

from functions.router import duplicates
from shared.text_clusters import distinct_customers
from functions.router.priority import MatchedRule, PriorityDecision, PriorityInputs, PriorityRules
from shared.clock import now as domain_now
from shared.events import ComplaintClassified, ComplaintReceived, EventPublisher
from shared.lifecycle import OPEN_STATES, Status, check_transition
from shared.models import Complaint, TimelineEntry, TimelineKind, Visibility
from shared import metrics
from shared.observability import logger
from shared.repository import ComplaintRepository, ConditionFailed, StaleVersion
from shared.routing_store import RoutingStore, batch_key, json_time, order_key

MAX_ATTEMPTS = 5
CANDIDATES_PER_KEY = 20


class CaseNotFound(Exception):
    """The event names a case the store does not have (yet): retried, then dead-lettered."""


class RoutingConflict(Exception):
    """The case (or its original) kept changing under us: the delivery is retried later."""


class ClassificationLike(Protocol):
    label: str
    confidence: float
    alternatives: list[tuple[str, float]]
    features: list[tuple[str, float]]
    model_version: str

    def explanation(self) -> str: ...


class ClassifierLike(Protocol):
    version: str
    labels: list[str]

    def classify(self, text: str) -> ClassificationLike: ...


@dataclass
class Plan:
    case: Complaint
    entries: list[TimelineEntry]
    ops: list[dict[str, Any]]
    outbox: dict[str, Any]
    outcome: str


@dataclass
class Cluster:
    cluster_id: str
    customers: int
    cases: int
    group: bool
    members: list[str] = field(default_factory=list)  # the other cases of the cluster

    def as_dict(self, window_hours: int, threshold: int) -> dict[str, Any]:
        return {"cluster_id": self.cluster_id, "customers": self.customers, "cases": self.cases,
                "group_complaint": self.group, "window_hours": window_hours, "threshold": threshold}


def case_text(c: Complaint) -> str:
    return duplicates.complaint_text(c.title, c.description)


class Router:
    def __init__(self, repository: ComplaintRepository, store: RoutingStore, publisher: EventPublisher,
                 classifier: Callable[[], ClassifierLike], rules: Callable[[], PriorityRules], settings: Any,
                 clock: Callable[[], datetime] | None = None):
        self._repo, self._store, self._publisher = repository, store, publisher
        self._classifier, self._rules, self._settings = classifier, rules, settings
        self._now = clock or domain_now

    # -- one delivery --------------------------------------------------------------------------------
    def handle(self, event: ComplaintReceived) -> str:
        cid = event.complaint_id
        log = logger()
        classification = None
        for _ in range(MAX_ATTEMPTS):
            found = self._repo.get(cid)
            if found is None:
                raise CaseNotFound(cid)
            case, _ = found
            if case.status != Status.RECEIVED or case.classification is not None:
                return self._finish(cid, self._store.outbox(cid), redelivered=True)
            if classification is None:
                # loaded here, not earlier: a redelivery for a finished case needs no model
                classifier, rules = self._classifier(), self._rules()
                classification = classifier.classify(case_text(case))
            plan = self._plan(case, event, classification, classifier, rules)
            try:
                self._repo.save(plan.case, plan.entries, expected_version=case.version, also=plan.ops)
            except (StaleVersion, ConditionFailed):
                log.info("case or original changed while routing; reading again", extra={"complaint_id": cid})
                continue
            log.info("complaint classified", extra={
                "complaint_id": cid, "category": plan.case.category, "priority": plan.case.priority,
                "confidence": round(classification.confidence, 3), "needs_triage": plan.case.needs_triage,
                "repeat_of": plan.case.repeat_of, "cluster_id": plan.case.cluster_id,
                "model_version": classification.model_version})
            metrics.count(metrics.COMPLAINTS_CLASSIFIED)
            metrics.record(metrics.CLASSIFICATION_CONFIDENCE, float(classification.confidence))
            if plan.case.needs_triage:
                metrics.count(metrics.COMPLAINTS_TRIAGED)
            self._finish(cid, plan.outbox)
            return plan.outcome
        raise RoutingConflict(cid)

    # -- deciding ---------------------------------------------------------------------------------------
    def _plan(self, case: Complaint, event: ComplaintReceived, result: ClassificationLike,
              classifier: ClassifierLike, rules: PriorityRules) -> Plan:
        s, now = self._settings, self._now()
        text = case_text(case)
        key = order_key(case.product)
        same_order = self._store.members(key, limit=100) if key else []
        repeat = self._find_repeat(case, text, same_order)
        original = repeat.candidate if repeat else None
        cluster = self._cluster(case, same_order)
        repeat_count = (original.repeat_count + 1) if original else 0

        priority = rules.assess(PriorityInputs(
            text="\n".join(t for t in (text, case.expected_resolution) if t),
            category=result.label, channel=case.channel.value, is_member="member_id" in case.contact_hashes,
            group_customers=cluster.customers if cluster else 1, group_threshold=s.group_complaint_threshold,
            repeat_of_level=original.priority if original else None, repeat_count=repeat_count))
        if case.priority and rules.at_least(case.priority, priority.level) != priority.level:
            # raised before its own routing (a repeat of it, or its cluster, came first): never lowered
            priority = PriorityDecision(case.priority, priority.rules_version, [*priority.matched, MatchedRule(
                "case.earlier_level", f"floor {case.priority}", "set by a repeat or cluster before routing")])
        threshold = s.min_classification_confidence
        low = result.confidence < threshold
        needs_triage = low and original is None
        decision = {
            "category": result.label, "confidence": round(float(result.confidence), 4),
            "alternatives": [[label, round(float(p), 4)] for label, p in result.alternatives],
            "features": [[name, round(float(w), 3)] for name, w in result.features],
            "explanation": result.explanation(), "model_version": result.model_version,
            "labels": list(classifier.labels), "threshold": threshold, "needs_triage": needs_triage,
            "triage_reason": (f"confidence {result.confidence:.2f} below {threshold:.2f}" if needs_triage else
                              "repeat: the original is the work item" if low else None),
            "priority": priority.as_dict(),
            "repeat": repeat.as_dict() if repeat else None,
            "cluster": cluster.as_dict(s.group_complaint_window_hours, s.group_complaint_threshold) if cluster else None,
            "event_id": event.event_id, "decided_at": json_time(now),
        }
        check_transition(case.status, Status.CLASSIFIED)
        routed = case.model_copy(update={
            "status": Status.CLASSIFIED, "version": case.version + 1, "updated_at": now,
            "category": result.label, "priority": priority.level, "classification": decision,
            "needs_triage": needs_triage, "repeat_of": original.complaint_id if original else None,
            "cluster_id": cluster.cluster_id if cluster else None,
            # the sweep's next look: a repeat has no work of its own; a triage case waits for a person
            # (brought to a lead if it waits too long); the others must be routed by then
            "next_check_at": None if original else now + timedelta(
                minutes=s.triage_alert_minutes if needs_triage else s.unassigned_alert_minutes),
            "redrives": 0,
        })
        entries = [
            TimelineEntry(at=now, kind=TimelineKind.STATUS_CHANGED, status=Status.CLASSIFIED),
            TimelineEntry(at=now, kind=TimelineKind.CLASSIFIED, visibility=Visibility.INTERNAL, status=Status.CLASSIFIED,
                          text=_summary(decision, priority), details=_entry_details(decision)),
        ]
        ops = self._store.index_ops(routed, [k for k in (order_key(case.product), batch_key(case.product)) if k])
        if needs_triage:
            ops.append(self._store.triage_put_op(routed, {
                "category": result.label, "confidence": decision["confidence"],
                "alternatives": decision["alternatives"][:3], "explanation": decision["explanation"],
                "priority": priority.level, "model_version": result.model_version}))
        if original:
            raised = rules.at_least(original.priority, priority.level)
            ops += self._store.repeat_ops(
                original.complaint_id, original.version, TimelineEntry(
                    at=now, kind=TimelineKind.REPEAT_RECEIVED, visibility=Visibility.INTERNAL,
                    text=f"{case.complaint_id} repeats this case (similarity {repeat.similarity.score:.2f}, "
                         f"{case.channel.value}); repeats: {repeat_count}",
                    details={"repeat": case.complaint_id, "channel": case.channel.value, "repeat_count": repeat_count,
                             "similarity": repeat.similarity.score, "matched_by": list(original.matched_by),
                             "priority_from": original.priority, "priority_to": raised}),
                repeat_id=case.complaint_id, repeat_count=repeat_count,
                priority=raised if raised != original.priority else None, now=now)
        event_out = ComplaintClassified(
            event_id=f"{case.complaint_id}:classified", complaint_id=case.complaint_id, category=result.label,
            confidence=decision["confidence"], priority=priority.level, needs_triage=needs_triage,
            repeat_of=routed.repeat_of, cluster_id=routed.cluster_id, model_version=result.model_version,
            rules_version=priority.rules_version)
        outbox: dict[str, Any] = {"event": event_out.model_dump(exclude={"detail_type"})}
        if cluster and cluster.members:
            outbox["cluster"] = {"cluster_id": cluster.cluster_id, "group": cluster.group,
                                 "customers": cluster.customers, "members": cluster.members,
                                 "floor": rules.rules.group.floor}
        ops.append(self._store.outbox_put_op(case.complaint_id, outbox))
        outcome = "repeat" if original else "triage" if needs_triage else "classified"
        return Plan(routed, entries, ops, outbox, outcome)

    def _find_repeat(self, case: Complaint, text: str, same_order: list[dict[str, Any]]) -> duplicates.RepeatMatch | None:
        matched_by: dict[str, set[str]] = {}
        for digest in sorted(set(case.contact_hashes.values())):
            for cid in self._repo.cases_by_contact_hash(digest, limit=CANDIDATES_PER_KEY):
                matched_by.setdefault(cid, set()).add("customer")
        for m in same_order[:CANDIDATES_PER_KEY]:
            matched_by.setdefault(m["complaint_id"], set()).add("order")
        matched_by.pop(case.complaint_id, None)
        if not matched_by:
            return None
        cases = self._repo.get_many(matched_by)
        candidates = [_candidate(c, tuple(sorted(matched_by[cid]))) for cid, c in cases.items()]
        match = duplicates.best_repeat(text, case.received_at, candidates,
                                       window_days=self._settings.repeat_window_days)
        if match and match.candidate.repeat_of:  # a repeat of a repeat: link to the first case
            root = self._repo.get_many([match.candidate.repeat_of]).get(match.candidate.repeat_of)
            if root is not None:
                rooted = _candidate(root, match.candidate.matched_by)
                if duplicates.eligible(rooted, case.received_at, self._settings.repeat_window_days):
                    match = duplicates.RepeatMatch(rooted, match.similarity, match.checked)
        return match

    def _cluster(self, case: Complaint, same_order: list[dict[str, Any]]) -> Cluster | None:
        """Other customers reporting the same product batch (or order) within the window."""
        s = self._settings
        since = json_time(case.received_at - timedelta(hours=s.group_complaint_window_hours))
        best: Cluster | None = None
        for key in (batch_key(case.product), order_key(case.product)):
            if not key:
                continue
            found = same_order if key.startswith("ORDER#") else self._store.members(key, since=since)
            members = [m for m in found if m["SK"] >= since and m["complaint_id"] != case.complaint_id]
            customers = distinct_customers([set(case.contact_hashes.values())]
                                           + [set(m.get("customer") or []) for m in members])
            if customers < 2:
                continue
            cluster = Cluster(key, customers, len(members) + 1, customers >= s.group_complaint_threshold,
                              [m["complaint_id"] for m in members])
            if best is None or cluster.customers > best.customers:
                best = cluster
        return best

    # -- finishing ----------------------------------------------------------------------------------------
    def _finish(self, cid: str, outbox: dict[str, Any] | None, *, redelivered: bool = False) -> str:
        if outbox is None:
            return "already_done" if redelivered else "done"
        cluster = outbox.get("cluster")
        if cluster:
            for member in cluster["members"]:
                self._mark_cluster_member(member, cluster, by=cid)
        self._publisher.publish(ComplaintClassified.model_validate(outbox["event"]))
        self._store.clear_outbox(cid)
        return "published" if redelivered else "done"

    def _mark_cluster_member(self, member_id: str, cluster: dict[str, Any], *, by: str) -> None:
        """Give an earlier case of the cluster its cluster id and, for a group complaint, the group's
        floor priority. Cases still ``received`` are left to their own routing; closed ones alone."""
        rules = self._rules()
        for _ in range(MAX_ATTEMPTS):
            found = self._repo.get(member_id)
            if found is None:
                return
            m, _ = found
            if m.status == Status.RECEIVED or m.status not in OPEN_STATES:
                return
            changes: dict[str, Any] = {}
            if m.cluster_id is None:
                changes["cluster_id"] = cluster["cluster_id"]
            if cluster["group"] and cluster.get("floor"):
                level = rules.at_least(m.priority, cluster["floor"])
                if level != m.priority:
                    changes["priority"] = level
            if not changes:
                return
            now = self._now()
            entry = TimelineEntry(at=now, kind=TimelineKind.CLUSTER_LINKED, visibility=Visibility.INTERNAL,
                                  text=f"{cluster['customers']} customers report {cluster['cluster_id']}"
                                       + (" (group complaint)" if cluster["group"] else ""),
                                  details={"cluster_id": cluster["cluster_id"], "customers": cluster["customers"],
                                           "group_complaint": cluster["group"], "by": by,
                                           "priority_from": m.priority, "priority_to": changes.get("priority", m.priority)})
            try:
                self._repo.save(m.model_copy(update={**changes, "version": m.version + 1, "updated_at": now}),
                                [entry], expected_version=m.version)
                return
            except StaleVersion:
                continue
        raise RoutingConflict(member_id)


def _candidate(c: Complaint, matched_by: tuple[str, ...]) -> duplicates.Candidate:
    return duplicates.Candidate(
        complaint_id=c.complaint_id, text=case_text(c), received_at=c.received_at, status=c.status.value,
        open=c.status in OPEN_STATES, repeat_of=c.repeat_of, matched_by=matched_by, priority=c.priority,
        version=c.version, repeat_count=c.repeat_count)


def _summary(decision: dict[str, Any], priority: PriorityDecision) -> str:
    parts = [f"{decision['category']} ({decision['confidence']:.0%}): {decision['explanation'] or 'no strong features'}",
             f"priority {priority.explanation()}"]
    if decision["repeat"]:
        parts.append(f"repeats {decision['repeat']['repeat_of']} "
                     f"(similarity {decision['repeat']['similarity']['score']:.2f})")
    if decision["cluster"]:
        c = decision["cluster"]
        parts.append(f"cluster {c['cluster_id']}: {c['customers']} customers"
                     + (" - group complaint" if c["group_complaint"] else ""))
    if decision["needs_triage"]:
        parts.append(f"to triage: {decision['triage_reason']}")
    return "; ".join(parts)


def _entry_details(decision: dict[str, Any]) -> dict[str, Any]:
    keep = ("category", "confidence", "alternatives", "features", "explanation", "model_version", "threshold",
            "needs_triage", "priority", "repeat", "cluster")
    return {k: decision[k] for k in keep}
