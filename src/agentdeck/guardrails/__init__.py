"""Guardrails: detectors and policies for what goes into and comes out of a model."""
