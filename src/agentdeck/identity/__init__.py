"""Tenants, projects, users, roles, API keys, RBAC checks and the audit log."""
