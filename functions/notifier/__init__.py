"""The notifier: tells customers what happens to their complaints, and staff what needs them.

Acknowledgements so far: ``ComplaintReceived`` -> "we have your complaint" (number, next steps,
first-response time, tracking link with a fresh token), ``CustomerReplied`` -> "we have your
message". Email through SES v2 (multipart text + HTML from templates), SMS through SNS when the
customer left only a phone number. Every send is recorded in the delivery log first, so a
redelivered event never sends twice; a failed send is retried by SQS and then dead-lettered.

    handlers.py      the SQS consumer (Powertools BatchProcessor: partial batch failures)
    service.py       what to send to whom, in which language, through which channel
    messages.py      templates (Jinja2, autoescaped HTML) and the MIME message
    channels.py      SES v2 and SNS
    delivery_log.py  claims and outcomes of each notification, Message-ID records
    staff_alerts.py  ``StaffAlertRaised`` (SLA warnings, escalations, waiting queues, stuck cases):
                     an item in each recipient's inbox and one email each, in their language
"""
