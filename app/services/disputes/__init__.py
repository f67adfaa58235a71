"""Disputes: evidence drafted on our side and submitted to the PSP (``evidence``), the files
it carries (``files``), the staff list (``queries``), evidence suggested from what paygate
knows (``suggestions``) and the reminder before the due date (``reminders``)."""
