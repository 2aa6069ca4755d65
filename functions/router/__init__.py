"""The router step: classify a complaint's type, find duplicates, set its priority and route it."""
