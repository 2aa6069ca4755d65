"""Reports: the figures of a period from the daily counters (``shared/report_model.py``) as JSON for the
console (``api.py``), HTML with charts (``render.py``; PNG drawn in pure Python by ``charts.py`` and
``canvas.py``), CSV/XLSX and the CFPB layout (``exports.py``), the scheduled emails (``handlers.py``,
``schedule.py``, ``mailer.py``). openpyxl is imported inside the functions that write, never at import.
See docs/reports.md."""
