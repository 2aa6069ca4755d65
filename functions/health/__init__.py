"""GET /health: the API's dependencies (table, buckets, queue), checked cheaply and answered without secrets."""
