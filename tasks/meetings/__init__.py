"""Organisational life: meetings, attendance, notices and make-up study, cadence, the report."""
