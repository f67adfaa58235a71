"""Webhooks to merchants, after the Standard Webhooks specification
(https://www.standardwebhooks.com/): endpoints and their secrets (``endpoints``), the URL
rules against server-side request forgery (``urls``), the fan-out from the event log to one
delivery per endpoint and event (``fanout``), and the signed, retried deliveries
(``delivery``); ``runner`` drives them from the worker or from the API process."""
