"""Roles and permissions: the built-in roles, custom roles as permission sets scoped to
resources, and the one check every `/api` route and every model call goes through."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

PERMISSIONS: dict[str, str] = {
    "models:use": "call model aliases through the gateway",
    "keys:manage": "create, rotate and revoke any key in the tenant",
    "keys:own": "create, rotate and revoke one's own keys",
    "users:read": "list users, service accounts, teams and projects",
    "users:manage": "create and change users, service accounts, teams and projects",
    "roles:manage": "define custom roles and bind roles to principals",
    "limits:read": "read rate limits, budgets and their usage",
    "limits:manage": "set rate limits and budgets",
    "credentials:manage": "store, rotate and delete provider credentials",
    "audit:read": "read, verify and export the audit log",
    "gateway:manage": "switch aliases and deployments off, read breaker states",
    "prompts:read": "read prompts",
    "prompts:write": "create prompt versions",
    "prompts:label": "move protected prompt labels",
    "tools:read": "list tools",
    "tools:execute": "call tools",
    "tools:approve": "approve or deny high-risk tool calls",
    "tools:manage": "register and change tools",
    "traces:read": "read traces, sessions and metrics",
    "traces:write": "send spans over OTLP and record feedback",
    "alerts:read": "read alert rules, SLOs, alert channels and the alert history",
    "alerts:manage": "create and change alert rules, SLOs and alert channels",
    "tenants:manage": "create tenants (platform tenant only)",
}

_READ = frozenset(
    {"users:read", "limits:read", "prompts:read", "tools:read", "traces:read", "alerts:read"}
)
_DEVELOP = _READ | {"models:use", "keys:own", "prompts:write", "tools:execute", "traces:write"}
_ADMIN = frozenset(PERMISSIONS) - {"tenants:manage"}
BUILTIN_ROLES: dict[str, frozenset[str]] = {
    "owner": frozenset(PERMISSIONS),
    "admin": _ADMIN,
    "developer": frozenset(_DEVELOP),
    "viewer": _READ,
}
RESOURCE_KINDS = ("models", "tools", "agents")


@dataclass(frozen=True, slots=True)
class Role:
    """A set of permissions; `resources` narrows which models, tools or agents it covers
    (shell-style patterns; a kind not named is not narrowed)."""

    name: str
    permissions: frozenset[str]
    resources: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def covers(self, kind: str, name: str) -> bool:
        """Whether this role's resource patterns admit `name` of `kind`."""
        patterns = self.resources.get(kind)
        return patterns is None or any(fnmatchcase(name, p) for p in patterns)


def builtin_role(name: str) -> Role | None:
    """The built-in role called `name`, if there is one."""
    permissions = BUILTIN_ROLES.get(name)
    return Role(name, permissions) if permissions is not None else None


def check_permissions(names: Iterable[str]) -> list[str]:
    """The names in `names` that are not permissions (empty when all are known)."""
    return [name for name in names if name not in PERMISSIONS]


@dataclass(frozen=True, slots=True)
class Access:
    """What one principal, acting through one key, may do."""

    roles: Sequence[Role]
    allowed_models: tuple[str, ...] | None = None  # the key's own narrowing

    @property
    def permissions(self) -> frozenset[str]:
        """Every permission any role grants."""
        return frozenset().union(*(role.permissions for role in self.roles))

    def allows(self, permission: str, kind: str | None = None, name: str | None = None) -> bool:
        """Whether some role grants `permission` for resource `name` of `kind` (if given)."""
        for role in self.roles:
            if permission in role.permissions and (
                kind is None or name is None or role.covers(kind, name)
            ):
                break
        else:
            return False
        if kind == "models" and name is not None and self.allowed_models is not None:
            return any(fnmatchcase(name, p) for p in self.allowed_models)
        return True

    def unrestricted(self, permission: str, kind: str) -> bool:
        """Whether `permission` holds for every resource of `kind` (no narrowing at all)."""
        if kind == "models" and self.allowed_models is not None:
            return False
        return any(
            permission in role.permissions and kind not in role.resources for role in self.roles
        )
