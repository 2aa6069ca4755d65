"""Reports: the figures of a period from the daily counters (``shared/report_model.py``) as JSON for the
console (``api.py``), HTML with charts (``render.py``), CSV/XLSX and the CFPB layout (``exports.py``),
the scheduled emails (``handlers.py``, ``schedule.py``, ``mailer.py``). matplotlib and openpyxl are
imported inside the functions that draw or write, never at import. See docs/reports.md."""
