"""Complaint domain: models, lifecycle, identifiers, repositories and gateways shared by every step."""
