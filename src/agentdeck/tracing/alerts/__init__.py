"""Alerts and SLOs: rules on span metrics and service-level objectives, evaluated periodically
by whichever replica claims them, with their history and signed webhook deliveries."""
