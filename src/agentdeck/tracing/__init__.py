"""Observability: metrics now; spans, the recorder, OTLP ingest and queries build on it."""
