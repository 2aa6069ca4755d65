"""Wiring only: every route and event source of the Chalice app, each calling a thin handler.

Handler modules are imported inside the functions, so importing this module (which Lambda does on
every cold start, and Chalice at package time) costs little more than importing Chalice itself.
"""
import os

from chalice import Chalice

app = Chalice(app_name="complaints")
# Queue names carry the stage; Chalice sets the stage's environment before importing this module.
STAGE = os.environ.get("STAGE", "dev")

# Accepted so that a wrong Content-Type still gets our JSON error instead of API Gateway's 415.
BODY_TYPES = ["application/json", "text/plain", "application/x-www-form-urlencoded",
              "multipart/form-data", "application/octet-stream"]


# -- logs' correlation keys, tracing and metrics of every invocation (shared/observability.py) ----
# Registered first, so it wraps everything else (the audit trail's logs carry the keys too).
@app.middleware("http")
def observe_requests(request, get_response):
    from shared import observability
    return observability.around_request(request, get_response)


@app.middleware("sqs")
def observe_queue_events(event, get_response):
    from shared import observability
    return observability.around_event(event, get_response)


@app.middleware("scheduled")
def observe_scheduled_events(event, get_response):
    from shared import observability
    return observability.around_event(event, get_response)


# -- the audit trail's actor for every invocation (functions/audit_scope.py) ---------------------
@app.middleware("http")
def audit_requests(request, get_response):
    from functions import audit_scope
    return audit_scope.around_request(app, request, get_response)


@app.middleware("sqs")
def audit_queue_events(event, get_response):
    from functions import audit_scope
    return audit_scope.around_event(event, get_response)


@app.middleware("scheduled")
def audit_scheduled_events(event, get_response):
    from functions import audit_scope
    return audit_scope.around_event(event, get_response)


# -- operations: is the API able to reach what it needs? (functions/health) ----------------------
@app.route("/health", methods=["GET"])
def health_check():
    from functions.health import api
    return api.health(app.current_request)


# -- the API's OpenAPI 3.1 document, generated from these routes (functions/openapi.py; docs/api.md) ----
@app.route("/openapi.json", methods=["GET"])
def openapi_document():
    from functions import openapi
    return openapi.serve(app.current_request)


# -- customer-facing pages and API (intake) ---------------------------------------------------
@app.route("/", methods=["GET"])
def complaint_form_page():
    from functions.intake import pages
    return pages.form_page(app.current_request)


@app.route("/track", methods=["GET"])
def tracking_page():
    from functions.intake import pages
    return pages.tracking_page(app.current_request)


@app.route("/static/{name}", methods=["GET"])
def static_asset(name):
    from functions.intake import pages
    return pages.asset(name)


@app.route("/complaints", methods=["POST"], content_types=BODY_TYPES)
def submit_complaint():
    from functions.intake import api
    return api.submit_complaint(app.current_request)


@app.route("/complaints/attachments", methods=["POST"], content_types=BODY_TYPES)
def request_attachment_upload():
    from functions.intake import api
    return api.request_attachment_upload(app.current_request)


@app.route("/complaints/{complaint_id}", methods=["GET"])
def track_complaint(complaint_id):
    from functions.intake import api
    return api.track_complaint(app.current_request, complaint_id)


@app.route("/complaints/{complaint_id}/messages", methods=["POST"], content_types=BODY_TYPES)
def post_customer_message(complaint_id):
    from functions.intake import customer
    return customer.post_message(app.current_request, complaint_id)


@app.route("/complaints/{complaint_id}/confirmation", methods=["POST"], content_types=BODY_TYPES)
def confirm_resolution(complaint_id):
    from functions.intake import customer
    return customer.confirm(app.current_request, complaint_id)


@app.route("/complaints/{complaint_id}/feedback", methods=["POST"], content_types=BODY_TYPES)
def give_feedback(complaint_id):
    from functions.intake import customer
    return customer.feedback(app.current_request, complaint_id)


# -- staff API -----------------------------------------------------------------------------------
@app.route("/staff/complaints", methods=["GET"])
def list_complaints_for_staff():
    from functions.staff import api
    return api.list_complaints(app.current_request)


@app.route("/staff/complaints/{complaint_id}", methods=["GET"])
def get_complaint_for_staff(complaint_id):
    from functions.staff import api
    return api.get_complaint(app.current_request, complaint_id)


@app.route("/staff/audit", methods=["GET"])
def list_audit_records():
    from functions.staff import audit
    return audit.list_records(app.current_request)


@app.route("/staff/quarantine", methods=["GET"])
def list_quarantined_mail():
    from functions.staff import quarantine
    return quarantine.list_messages(app.current_request)


@app.route("/staff/quarantine/{quarantine_id}", methods=["GET"])
def get_quarantined_mail(quarantine_id):
    from functions.staff import quarantine
    return quarantine.get_message(app.current_request, quarantine_id)


@app.route("/staff/quarantine/{quarantine_id}/redrive", methods=["POST"], content_types=BODY_TYPES)
def redrive_quarantined_mail(quarantine_id):
    from functions.staff import quarantine
    return quarantine.redrive(app.current_request, quarantine_id)


@app.route("/staff/triage", methods=["GET"])
def list_triage_queue():
    from functions.staff import triage
    return triage.list_triage(app.current_request)


@app.route("/staff/complaints/{complaint_id}/classification", methods=["POST"], content_types=BODY_TYPES)
def correct_classification(complaint_id):
    from functions.staff import triage
    return triage.correct_classification(app.current_request, complaint_id)


# -- staff inbox (SLA warnings, escalations) -----------------------------------------------------
@app.route("/staff/inbox", methods=["GET"])
def list_staff_inbox():
    from functions.staff import inbox
    return inbox.list_inbox(app.current_request)


@app.route("/staff/inbox/{item_id}/read", methods=["POST"], content_types=BODY_TYPES)
def mark_staff_inbox_item_read(item_id):
    from functions.staff import inbox
    return inbox.mark_read(app.current_request, item_id)


# -- routing: configuration, staff directory, queues, claim / assign / transfer ---------------------
@app.route("/staff/config/{kind}", methods=["GET"])
def get_configuration(kind):
    from functions.staff import routing
    return routing.get_config(app.current_request, kind)


@app.route("/staff/config/{kind}", methods=["PUT"], content_types=BODY_TYPES)
def change_configuration(kind):
    from functions.staff import routing
    return routing.put_config(app.current_request, kind)


@app.route("/staff/config/{kind}/history", methods=["GET"])
def configuration_history(kind):
    from functions.staff import routing
    return routing.config_history(app.current_request, kind)


@app.route("/staff/handlers", methods=["GET"])
def list_handlers():
    from functions.staff import routing
    return routing.list_handlers(app.current_request)


@app.route("/staff/handlers/{handler_id}", methods=["GET"])
def get_handler(handler_id):
    from functions.staff import routing
    return routing.get_handler(app.current_request, handler_id)


@app.route("/staff/handlers/{handler_id}", methods=["PUT"], content_types=BODY_TYPES)
def put_handler(handler_id):
    from functions.staff import routing
    return routing.put_handler(app.current_request, handler_id)


@app.route("/staff/handlers/{handler_id}/availability", methods=["PUT"], content_types=BODY_TYPES)
def set_availability(handler_id):
    from functions.staff import routing
    return routing.set_availability(app.current_request, handler_id)


@app.route("/staff/queue", methods=["GET"])
def work_queue():
    from functions.staff import routing
    return routing.work_queue(app.current_request)


@app.route("/staff/complaints/{complaint_id}/actions", methods=["POST"], content_types=BODY_TYPES)
def act_on_complaint(complaint_id):
    from functions.staff import workflow
    return workflow.act(app.current_request, complaint_id)


@app.route("/staff/complaints/{complaint_id}/suggestions", methods=["GET"])
def case_suggestions(complaint_id):
    from functions.staff import suggestions
    return suggestions.for_case(app.current_request, complaint_id)


@app.route("/staff/responses", methods=["GET"])
def canned_responses():
    from functions.staff import suggestions
    return suggestions.list_responses(app.current_request)


@app.route("/staff/approvals", methods=["GET"])
def plans_awaiting_approval():
    from functions.staff import workflow
    return workflow.list_approvals(app.current_request)


@app.route("/staff/compensation", methods=["GET"])
def compensation_ledger():
    from functions.staff import workflow
    return workflow.compensation_ledger(app.current_request)


@app.route("/staff/tasks", methods=["GET"])
def investigation_tasks():
    from functions.staff import tasks
    return tasks.list_tasks(app.current_request)


@app.route("/staff/complaints/{complaint_id}/tasks/{task_id}", methods=["POST"], content_types=BODY_TYPES)
def close_investigation_task(complaint_id, task_id):
    from functions.staff import tasks
    return tasks.close_task(app.current_request, complaint_id, task_id)


@app.route("/staff/me/preferences", methods=["GET"])
def my_notification_preferences():
    from functions.staff import preferences
    return preferences.get_preferences(app.current_request)


@app.route("/staff/me/preferences", methods=["PUT"], content_types=BODY_TYPES)
def set_my_notification_preferences():
    from functions.staff import preferences
    return preferences.put_preferences(app.current_request)


@app.route("/staff/complaints/{complaint_id}/claim", methods=["POST"], content_types=BODY_TYPES)
def claim_complaint(complaint_id):
    from functions.staff import routing
    return routing.claim(app.current_request, complaint_id)


@app.route("/staff/complaints/{complaint_id}/assignment", methods=["POST"], content_types=BODY_TYPES)
def assign_complaint_to_handler(complaint_id):
    from functions.staff import routing
    return routing.assign(app.current_request, complaint_id)


@app.route("/staff/complaints/{complaint_id}/transfer", methods=["POST"], content_types=BODY_TYPES)
def transfer_complaint(complaint_id):
    from functions.staff import routing
    return routing.transfer(app.current_request, complaint_id)


# -- reports and root causes (functions/reports) ---------------------------------------------------
@app.route("/staff/reports", methods=["GET"])
def complaint_report():
    from functions.reports import api
    return api.get_report(app.current_request)


@app.route("/staff/reports/export", methods=["GET"])
def export_report():
    from functions.reports import api
    return api.export(app.current_request)


@app.route("/staff/reports/alerts", methods=["GET"])
def root_cause_alerts():
    from functions.reports import alerts
    return alerts.list_alerts(app.current_request)


# -- the staff console (functions/console) -----------------------------------------------------------
@app.route("/console", methods=["GET"])
def console_page():
    from functions.console import pages
    return pages.console_page(app.current_request)


@app.route("/console/{name}", methods=["GET"])
def console_asset(name):
    from functions.console import pages
    return pages.console_asset(name)


# -- events --------------------------------------------------------------------------------------
# Batch sizes, batching windows and maximum concurrency per consumer: a 100x burst waits in the queues
# instead of throttling DynamoDB or exceeding SES's sending rate (the arithmetic: docs/scaling.md). The
# notifier paces its sends to the account's quota shared by this many containers (notifier/pacing.py).
NOTIFIER_MAX_CONCURRENCY = int(os.environ.get("NOTIFIER_MAX_CONCURRENCY") or 2)


@app.on_sqs_message(queue=f"complaints-{STAGE}-email-intake", batch_size=5, maximum_batching_window_in_seconds=1,
                    maximum_concurrency=2)
def take_in_email(event):
    """Raw messages stored by SES's receipt rule (or the local SMTP listener) in the inbound bucket."""
    from functions.intake import mail_handler
    return mail_handler.handle(event)


@app.on_sqs_message(queue=f"complaints-{STAGE}-notifier", batch_size=10, maximum_batching_window_in_seconds=1,
                    maximum_concurrency=NOTIFIER_MAX_CONCURRENCY)
def notify_customer(event):
    """Acknowledgements to the customer (email or SMS) for ComplaintReceived and CustomerReplied, staff
    alerts (inbox item + email) for StaffAlertRaised, and the workflow's CaseEvents to the customer and
    the staff concerned (email, SMS, webhooks, inbox)."""
    from functions.notifier import handlers
    return handlers.handle(event)


@app.on_sqs_message(queue=f"complaints-{STAGE}-router", batch_size=10, maximum_batching_window_in_seconds=1,
                    maximum_concurrency=5)
def route_complaint(event):
    """Classification, priority, repeats and clusters for every ComplaintReceived (functions/router)."""
    from functions.router import handlers
    return handlers.handle(event)


@app.on_sqs_message(queue=f"complaints-{STAGE}-assignment", batch_size=10, maximum_batching_window_in_seconds=1,
                    maximum_concurrency=5)
def assign_complaint(event):
    """Department, SLA clocks and handler for every ComplaintClassified (shared/assignment.py)."""
    from functions.router import handlers
    return handlers.handle_classified(event)


@app.schedule("rate(5 minutes)")
def sweep_sla(event):
    """SLA warnings and escalations, and cases stuck before routing (functions/router/sweep.py)."""
    from functions.router import sweep
    return sweep.handle(event)


@app.schedule("rate(1 minute)")
def publish_pending_events(event):
    """The outbox: re-publishes ComplaintReceived for cases whose publish failed after the write."""
    from functions.intake import outbox
    return outbox.handle(event)


@app.schedule("rate(1 hour)")
def send_scheduled_reports(event):
    """Daily and weekly reports to managers and leads whose local send time has come (functions/reports)."""
    from functions.reports import handlers
    return handlers.send_scheduled(event)


@app.schedule("rate(1 hour)")
def detect_root_causes(event):
    """Spikes and concentrations of complaints per product, SKU and batch; one alert per spike."""
    from functions.reports import handlers
    return handlers.detect(event)


# -- privacy: data-subject requests and retention (functions/staff/privacy.py; docs/privacy.md) ------
@app.route("/staff/privacy/export", methods=["POST"], content_types=BODY_TYPES)
def export_personal_data():
    from functions.staff import privacy
    return privacy.export(app.current_request)


@app.route("/staff/privacy/erasure", methods=["POST"], content_types=BODY_TYPES)
def erase_personal_data():
    from functions.staff import privacy
    return privacy.erasure(app.current_request)


@app.route("/staff/privacy/requests", methods=["GET"])
def list_privacy_requests():
    from functions.staff import privacy
    return privacy.list_requests(app.current_request)


@app.route("/staff/privacy/requests/{request_id}", methods=["GET"])
def get_privacy_request(request_id):
    from functions.staff import privacy
    return privacy.get_request(app.current_request, request_id)


@app.schedule("rate(1 hour)")
def follow_up_privacy_requests(event):
    """Pending erasures tried again when their holds end; requests near or past their deadline logged."""
    from functions.staff import privacy_jobs
    return privacy_jobs.follow_up(event)


@app.schedule("rate(1 hour)")
def anonymise_expired_cases(event):
    """Ended cases past the configured retention anonymised like an erasure (shared/privacy.py)."""
    from functions.staff import privacy_jobs
    return privacy_jobs.retain(event)
