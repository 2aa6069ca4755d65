"""The notifier: tells customers what happens to their complaints, and staff what needs them.

Acknowledgements (``ComplaintReceived`` -> "we have your complaint", ``CustomerReplied`` -> "we have
your message"), the workflow's ``CaseEvent``s (to the customer: a reply, a question, a proposed
resolution, the resolution, the closure and the survey; to staff: assignments, the customer's replies,
approvals, tasks, escalations, disputes, reopenings) and the SLA sweep's ``StaffAlertRaised``. Email
through SES v2 (multipart text + HTML from templates, threaded), SMS through SNS, signed webhooks to a
department's chat tools, and the staff inbox. Every send is recorded in the delivery log first, so a
redelivered event never sends twice; a failed send is retried by SQS and then dead-lettered.
See docs/notifications.md.

    handlers.py          the SQS consumer (Powertools BatchProcessor: partial batch failures)
    service.py           the customer's messages: what, in which language, through which channel
    customer_content.py  what a customer-facing case event says (reply text, plan, confirmation date ...)
    staff_notices.py     staff-facing case events: inbox, email, SMS per preferences, quiet hours, webhooks
    staff_content.py     who hears of a staff event, and what it says
    webhooks.py          webhook bodies per format, HMAC signatures, POST with retries and backoff
    redelivery.py        a message held back by quiet hours comes back when they end (SQS visibility)
    messages.py          templates (Jinja2, autoescaped HTML) and the MIME message
    channels.py          SES v2 and SNS
    delivery_log.py      claims and outcomes of each notification, Message-ID records, the mail thread
    staff_alerts.py      ``StaffAlertRaised`` (SLA warnings, escalations, waiting queues, stuck cases):
                         an item in each recipient's inbox and one email each, in their language
    preview.py           ``complaints notifier preview``: a template with sample data
"""
