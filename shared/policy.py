"""Who may do what: the one access-control policy of the staff API.

Roles come from the staff member's JWT (Cognito groups in AWS, the dev issuer locally):

* ``agent`` - works the cases of their own department(s);
* ``lead`` - an agent's rights in their department(s), plus assigning and setting availability there;
* ``manager`` - every department; approvals belong to managers;
* ``admin`` - manages configuration and the staff directory; reads cases, but works none;
* ``auditor`` - reads everything (cases, queues, configuration, the audit log), changes nothing.

Each action below names the roles allowed in every department (``anywhere``) and those allowed
only for cases of their own departments (``own``). A case without a department yet (before
routing) counts as nobody's own: only the ``anywhere`` roles reach it. ``tests/integration/
test_authorization_matrix.py`` walks every endpoint × role × own/other department against this.
"""
from __future__ import annotations

from dataclasses import dataclass

from shared.auth import StaffPrincipal


@dataclass(frozen=True)
class Rule:
    anywhere: frozenset[str] = frozenset()
    own: frozenset[str] = frozenset()

    def roles(self) -> frozenset[str]:
        return self.anywhere | self.own


def _rule(anywhere: str = "", own: str = "") -> Rule:
    return Rule(frozenset(anywhere.split()), frozenset(own.split()))


READERS = "manager admin auditor"
POLICY: dict[str, Rule] = {
    # cases
    "case.list": _rule(READERS, own="agent lead"),  # agents and leads: their departments' cases only
    "case.read": _rule(READERS, own="agent lead"),  # with the decrypted contact data
    "case.classify": _rule("manager", own="agent lead"),  # correct a classification (triage)
    "case.work": _rule("manager", own="agent lead"),  # every workflow action but a plan's approval
    "plan.decide": _rule("manager"),  # approve or reject a resolution plan above the limits
    "approval.list": _rule("manager auditor"),  # the plans waiting for a manager
    "ledger.read": _rule("manager auditor"),  # the compensation ledger
    "task.read": _rule(READERS, own="agent lead"),  # a department's investigation tasks
    "task.work": _rule("manager", own="agent lead"),  # close a task of one's department (its department's)
    "suggestions.read": _rule(READERS, own="agent lead"),  # canned responses and similar cases for a case
    "case.claim": _rule(own="agent lead"),
    "case.assign": _rule("manager", own="lead"),
    "case.transfer": _rule("manager", own="agent lead"),  # an agent: only the cases assigned to them
    "triage.read": _rule("manager auditor", own="agent lead"),
    "queue.read": _rule(READERS, own="agent lead"),
    # reports and root causes (a lead's report is scoped to their departments)
    "report.read": _rule("manager auditor", own="lead"),
    # the audit trail (every state change, staff action, configuration change, view of contact data)
    "audit.read": _rule("auditor"),
    # data-subject requests (shared/privacy.py): admins carry them out, auditors read the requests
    "privacy.export": _rule("admin"),
    "privacy.erase": _rule("admin"),
    "privacy.read": _rule("admin auditor"),
    # email held back by the intake
    "quarantine.read": _rule("lead manager admin auditor"),
    "quarantine.redrive": _rule("lead manager admin"),
    # configuration and the staff directory
    "config.read": _rule("agent lead manager admin auditor"),
    "config.write": _rule("admin"),
    "staff.read": _rule("agent lead manager admin auditor"),
    "staff.write": _rule("admin"),
    "availability.set": _rule("manager admin", own="lead"),  # everyone may set their own
    # one's own inbox and notification preferences
    "inbox.read": _rule("agent lead manager admin auditor"),
    "preferences.set": _rule("agent lead manager admin auditor"),
    "responses.read": _rule("agent lead manager admin auditor"),  # the canned responses
}


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str


def decide(principal: StaffPrincipal, action: str, *, departments: list[str] | tuple[str, ...] | None = None,
           own_subject: str | None = None) -> Decision:
    """May ``principal`` do ``action`` on something belonging to ``departments`` (a case's department,
    a handler's departments; None: not tied to a department)? ``own_subject``: the staff member the
    thing belongs to (one's own availability), always allowed to them."""
    rule = POLICY[action]
    if own_subject is not None and own_subject == principal.subject:
        return Decision(True, "one's own")
    if principal.role in rule.anywhere:
        return Decision(True, f"{principal.role} in every department")
    if principal.role in rule.own:
        if departments is None:
            return Decision(True, f"{principal.role}: not tied to a department")
        if set(departments) & set(principal.departments):
            return Decision(True, f"{principal.role} of the department")
        where = ", ".join(departments) or "no department yet"
        article = "an" if principal.role[0] in "aeiou" else "a"
        return Decision(False, f"this belongs to {where}; {article} {principal.role} acts in their own departments only")
    allowed = ", ".join(sorted(rule.roles())) or "nobody"
    return Decision(False, f"{action} needs one of these roles: {allowed}")


def require(principal: StaffPrincipal, action: str, **kwargs) -> None:
    """Raise the API's 403 when the policy denies it."""
    decision = decide(principal, action, **kwargs)
    if not decision.allowed:
        from shared.http import ApiError

        raise ApiError(403, "forbidden", decision.reason)
