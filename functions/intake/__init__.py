"""Intake: the complaint form API, attachment uploads, customer tracking, and the event outbox."""
