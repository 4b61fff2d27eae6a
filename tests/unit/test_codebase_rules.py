"""Rules of the codebase that a test holds: module size, one reader of the environment,
and docs that cover every setting and every HTTP route."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from starlette.routing import Mount

from agentdeck.app import create_app
from agentdeck.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "agentdeck"
HARD_CAP_LINES = 800


def _modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def test_no_module_passes_the_hard_cap() -> None:
    too_long = {
        str(path.relative_to(ROOT)): count
        for path in _modules()
        if (count := len(path.read_text().splitlines())) > HARD_CAP_LINES
    }
    assert too_long == {}, f"modules over {HARD_CAP_LINES} lines: {too_long}"
    assert len(_modules()) > 20  # the walk really found the package


def test_only_settings_reads_the_environment() -> None:
    readers = []
    for path in _modules():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and node.attr in ("environ", "getenv")
                and isinstance(node.value, ast.Name)
                and node.value.id == "os"
            ):
                readers.append(str(path.relative_to(SRC)))
    assert sorted(set(readers)) == ["settings.py"]


def _setting_paths(model: type[BaseModel], prefix: str = "") -> list[str]:
    paths = []
    for name, field in model.model_fields.items():
        dotted = f"{prefix}{name}"
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            paths.extend(_setting_paths(annotation, dotted + "."))
        else:
            paths.append(dotted)
    return paths


def test_every_setting_is_documented() -> None:
    from agentdeck.settings import DeploymentSettings, FakeModelSettings, ModelAliasSettings

    doc = (ROOT / "docs" / "configuration.md").read_text()
    wanted = (
        _setting_paths(Settings)
        + _setting_paths(ModelAliasSettings, "models.<alias>.")
        + _setting_paths(DeploymentSettings, "models.<alias>.deployments[].")
        + _setting_paths(FakeModelSettings, "fake_models.<name>.")
    )
    missing = [path for path in wanted if f"`{path}`" not in doc]
    assert missing == [], f"settings missing from docs/configuration.md: {missing}"
    assert len(wanted) > 40


def test_every_route_is_documented() -> None:
    doc = (ROOT / "docs" / "http-api.md").read_text()
    app = create_app(Settings())

    def walk(found: list[Any], prefix: str = "") -> list[tuple[str, str]]:
        out = []
        for route in found:
            if isinstance(route, Mount):  # the admin API (FastAPI) is mounted at /api
                api: Any = route.app
                out.append(("GET", route.path + api.openapi_url))
                for path, operations in api.openapi()["paths"].items():
                    out += [(m.upper(), route.path + path) for m in operations]
                continue
            for method in sorted(getattr(route, "methods", None) or ()):
                if method != "HEAD":  # {name:path} is documented as {name}
                    out.append((method, prefix + re.sub(r":\w+}", "}", route.path)))
        return out

    routes = walk(app.routes)
    documented = set(re.findall(r"^#+ `(GET|POST|PUT|PATCH|DELETE) (\S+)`", doc, re.MULTILINE))
    missing = [f"{m} {p}" for m, p in routes if (m, p) not in documented]
    assert missing == [], f"routes missing from docs/http-api.md: {missing}"
    assert len(routes) >= 6
