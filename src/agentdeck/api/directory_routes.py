"""`/api/v1`: the caller, tenants, projects, teams, users, service accounts, roles, bindings."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import Field

from agentdeck.api.deps import ApiServices, Body, Caller, Services, actor, deny, require
from agentdeck.errors import ConflictError
from agentdeck.identity.grants import Grant
from agentdeck.identity.rbac import PERMISSIONS

router = APIRouter(prefix="/v1")
Reader = Annotated[Grant, Depends(require("users:read"))]
Manager = Annotated[Grant, Depends(require("users:manage"))]
RoleManager = Annotated[Grant, Depends(require("roles:manage"))]
Rows = list[dict[str, Any]]


class NewTenant(Body):
    slug: str
    name: str = Field(default="", max_length=200)


class NewProject(Body):
    slug: str
    name: str = Field(default="", max_length=200)


class NewTeam(Body):
    project_id: str
    name: str = Field(min_length=1, max_length=200)


class NewPrincipal(Body):
    name: str = Field(min_length=1, max_length=200)
    email: str | None = Field(default=None, max_length=320)


class PrincipalChange(Body):
    disabled: bool = Field(strict=True)  # "yes", 1 or "on" must not disable anyone


class NewRole(Body):
    name: str = Field(min_length=1, max_length=64)
    permissions: list[str]
    resources: dict[str, list[str]] = Field(default_factory=dict)


class NewBinding(Body):
    principal_id: str
    role: str
    project_id: str | None = None


@router.get("/me", summary="The caller: key, principal, tenant, project, permissions")
async def me(grant: Caller) -> dict[str, Any]:
    """Who the key belongs to and what it may do."""
    return {
        "key_id": grant.key_id,
        "tenant_id": grant.tenant_id,
        "tenant": grant.tenant_slug,
        "project_id": grant.project_id,
        "principal_id": grant.principal_id,
        "principal": grant.actor,
        "teams": list(grant.team_ids),
        "permissions": sorted(grant.access.permissions),
    }


@router.get("/tenants", summary="Every tenant (platform tenant owners)")
async def list_tenants(request: Request, grant: Caller, svc: Services) -> Rows:
    """All tenants; only for the platform tenant's `tenants:manage`."""
    _platform(request, grant, svc.platform_tenant)
    return await svc.directory.list_tenants()


@router.post("/tenants", status_code=201, summary="Create a tenant (platform tenant owners)")
async def create_tenant(request: Request, body: NewTenant, grant: Caller, svc: Services) -> Any:
    """A new tenant; give it an owner with `agentdeck init --tenant` or this API."""
    _platform(request, grant, svc.platform_tenant)
    return await svc.directory.create_tenant(actor(request, grant), body.slug, body.name)


def _platform(request: Request, grant: Grant, platform_tenant: str) -> None:
    if grant.tenant_slug != platform_tenant or not grant.access.allows("tenants:manage"):
        raise deny(request, grant, "tenants:manage")


@router.get("/tenant", summary="The caller's tenant")
async def own_tenant(grant: Caller, svc: Services) -> dict[str, Any]:
    """The tenant the key belongs to."""
    return await svc.directory.tenant(grant.tenant_id)


@router.get("/projects", summary="List projects")
async def list_projects(grant: Reader, svc: Services) -> Rows:
    """The tenant's projects."""
    return await svc.directory.list_projects(grant.tenant_id)


@router.post("/projects", status_code=201, summary="Create a project")
async def create_project(request: Request, body: NewProject, grant: Manager, svc: Services) -> Any:
    """A new project in the tenant."""
    return await svc.directory.create_project(actor(request, grant), body.slug, body.name)


@router.get("/projects/{project_id}", summary="One project")
async def get_project(project_id: str, grant: Reader, svc: Services) -> dict[str, Any]:
    """A project of the tenant (404 for any other)."""
    return await svc.directory.project(grant.tenant_id, project_id)


@router.get("/teams", summary="List teams with members")
async def list_teams(grant: Reader, svc: Services) -> Rows:
    """The tenant's teams."""
    return await svc.directory.list_teams(grant.tenant_id)


@router.post("/teams", status_code=201, summary="Create a team")
async def create_team(request: Request, body: NewTeam, grant: Manager, svc: Services) -> Any:
    """A new team in a project."""
    return await svc.directory.create_team(actor(request, grant), body.project_id, body.name)


@router.put("/teams/{team_id}/members/{principal_id}", status_code=204, summary="Add to team")
async def add_member(
    request: Request, team_id: str, principal_id: str, grant: Manager, svc: Services
) -> None:
    """Make a principal a member of a team."""
    await svc.directory.set_member(actor(request, grant), team_id, principal_id, True)


@router.delete(
    "/teams/{team_id}/members/{principal_id}", status_code=204, summary="Remove from team"
)
async def remove_member(
    request: Request, team_id: str, principal_id: str, grant: Manager, svc: Services
) -> None:
    """Take a principal out of a team."""
    await svc.directory.set_member(actor(request, grant), team_id, principal_id, False)


@router.get("/users", summary="List users")
async def list_users(grant: Reader, svc: Services) -> Rows:
    """The tenant's users."""
    return await svc.directory.list_principals(grant.tenant_id, "user")


@router.post("/users", status_code=201, summary="Create a user")
async def create_user(request: Request, body: NewPrincipal, grant: Manager, svc: Services) -> Any:
    """A new user."""
    return await svc.directory.create_principal(
        actor(request, grant), "user", body.name, body.email
    )


@router.get("/service-accounts", summary="List service accounts")
async def list_service_accounts(grant: Reader, svc: Services) -> Rows:
    """The tenant's service accounts."""
    return await svc.directory.list_principals(grant.tenant_id, "service")


@router.post("/service-accounts", status_code=201, summary="Create a service account")
async def create_service_account(
    request: Request, body: NewPrincipal, grant: Manager, svc: Services
) -> Any:
    """A new service account (for machines; it holds keys like a user)."""
    return await svc.directory.create_principal(
        actor(request, grant), "service", body.name, body.email
    )


@router.get("/principals/{principal_id}", summary="One user or service account")
async def get_principal(principal_id: str, grant: Reader, svc: Services) -> dict[str, Any]:
    """A principal of the tenant."""
    return await svc.directory.principal(grant.tenant_id, principal_id)


@router.patch("/principals/{principal_id}", summary="Disable or enable a principal")
async def change_principal(
    request: Request, principal_id: str, body: PrincipalChange, grant: Manager, svc: Services
) -> Any:
    """Disabling stops every key of the principal on every replica within seconds. Only a
    caller who holds every permission of the principal may change it (an admin cannot disable
    an owner), and nobody can disable themselves."""
    if principal_id == grant.principal_id:
        raise ConflictError("you cannot disable or enable yourself; ask another owner or admin")
    await svc.directory.principal(grant.tenant_id, principal_id)  # 404 when not in the tenant
    _no_escalation(request, grant, await _permissions_of(svc, grant.tenant_id, principal_id))
    return await svc.directory.set_disabled(actor(request, grant), principal_id, body.disabled)


async def _permissions_of(svc: ApiServices, tenant_id: str, principal_id: str) -> set[str]:
    """Every permission a principal holds through any of its role bindings."""
    roles = {row["name"]: row["permissions"] for row in await svc.access.list_roles(tenant_id)}
    bindings = await svc.access.list_bindings(tenant_id)
    return {
        permission
        for binding in bindings
        if binding["principal_id"] == principal_id
        for permission in roles.get(binding["role"], ())
    }


@router.get("/roles", summary="List built-in and custom roles")
async def list_roles(grant: Reader, svc: Services) -> Rows:
    """Roles and their permissions."""
    return await svc.access.list_roles(grant.tenant_id)


def _no_escalation(request: Request, grant: Grant, permissions: Iterable[str]) -> None:
    """403 unless the caller holds every permission it would hand out: `roles:manage` must not
    turn an admin into an owner (and a platform admin into a creator of tenants)."""
    missing = sorted(set(permissions) & set(PERMISSIONS) - grant.access.permissions)
    if missing:
        raise deny(request, grant, missing[0])


@router.post("/roles", status_code=201, summary="Create a custom role")
async def create_role(request: Request, body: NewRole, grant: RoleManager, svc: Services) -> Any:
    """A role: permissions, optionally narrowed to model, tool or agent name patterns."""
    _no_escalation(request, grant, body.permissions)
    return await svc.access.create_role(
        actor(request, grant), body.name, body.permissions, body.resources
    )


@router.get("/role-bindings", summary="List role bindings")
async def list_bindings(grant: Reader, svc: Services) -> Rows:
    """Who holds which role, where."""
    return await svc.access.list_bindings(grant.tenant_id)


@router.post("/role-bindings", status_code=201, summary="Bind a role to a principal")
async def bind_role(request: Request, body: NewBinding, grant: RoleManager, svc: Services) -> Any:
    """Give a principal a role in the tenant, or in one project."""
    known = await svc.access.list_roles(grant.tenant_id)
    granted = next((row["permissions"] for row in known if row["name"] == body.role), ())
    _no_escalation(request, grant, granted)
    return await svc.access.bind_role(
        actor(request, grant), body.principal_id, body.role, body.project_id
    )


@router.delete("/role-bindings/{binding_id}", status_code=204, summary="Remove a role binding")
async def unbind_role(request: Request, binding_id: str, grant: RoleManager, svc: Services) -> None:
    """Take a role away; only a caller who holds every permission of the role may (an admin
    cannot take the owner role from an owner)."""
    binding = next(
        (b for b in await svc.access.list_bindings(grant.tenant_id) if b["id"] == binding_id),
        None,
    )
    if binding is not None:
        known = await svc.access.list_roles(grant.tenant_id)
        role = next((row["permissions"] for row in known if row["name"] == binding["role"]), ())
        _no_escalation(request, grant, role)
    await svc.access.unbind(actor(request, grant), binding_id)
