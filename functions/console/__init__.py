"""The staff web console (``/console``): one static page and its scripts, calling the staff JSON API."""
