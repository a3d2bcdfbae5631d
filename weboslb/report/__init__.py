"""Reports of a replay: the report dict (``weboslb replay --report-json``) rendered for people.

Pure: report data in, text out.  ``html.render`` builds one self-contained page with plots.
"""
from __future__ import annotations

from weboslb.report.html import ReportError, render

__all__ = ["ReportError", "render"]
