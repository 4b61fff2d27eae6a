"""The administrative REST API under `/api` (FastAPI, for its generated OpenAPI document)."""
