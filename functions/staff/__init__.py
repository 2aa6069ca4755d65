"""Staff API: authenticated case views for handlers, leads and managers."""
