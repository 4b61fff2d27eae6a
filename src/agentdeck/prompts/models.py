"""What the prompt registry holds: a version's content, versions, label states and their
targets (one version or weighted splits), and a reference to a prompt as requests carry it."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from agentdeck.errors import InvalidRequestError
from agentdeck.tracing.queries import iso_time

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,199}")
LABEL_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
DEFAULT_LABEL = "production"
# Path segments a name may not have: the routes put a name with `/` straight into the path,
# so `a/versions` would be read as the versions of `a` (and `.` / `..` are folded by clients).
RESERVED_SEGMENTS = frozenset({"versions", "labels", "diff", "resolve", "render", ".", ".."})
MAX_SPLITS = 20
MAX_WEIGHT = 1_000_000
VERSION_MAX = 2**31 - 1  # an Integer column


def check_name(name: str, param: str = "name") -> str:
    """`name` if it is a valid prompt name; 400 naming `param` otherwise."""
    if not NAME_PATTERN.fullmatch(name):
        raise InvalidRequestError(
            f"invalid prompt name {name[:210]!r}: 1 to 200 of A-Z a-z 0-9 . _ / - starting "
            "with a letter or digit",
            param=param,
        )
    bad = [part for part in name.split("/") if part == "" or part in RESERVED_SEGMENTS]
    if bad:
        raise InvalidRequestError(
            f"invalid prompt name {name!r}: a part between slashes may not be empty or one of "
            f"{', '.join(sorted(RESERVED_SEGMENTS))}",
            param=param,
        )
    return name


def check_label(label: str, param: str = "label") -> str:
    """`label` if it is a valid label name; 400 naming `param` otherwise."""
    if not LABEL_PATTERN.fullmatch(label):
        raise InvalidRequestError(
            f"invalid label {label[:70]!r}: 1 to 64 of a-z 0-9 . _ - starting with a letter "
            "or digit",
            param=param,
        )
    return label


class ChatMessage(BaseModel):
    """One message of a chat prompt; its content is a template."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "developer", "user", "assistant"]
    content: str = Field(max_length=100_000)


class PromptContent(BaseModel):
    """What a version holds: the template(s), the variables' JSON Schema, model parameters,
    the default model alias, tools and free metadata."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["chat", "text"]
    template: str | None = Field(default=None, max_length=200_000)
    messages: list[ChatMessage] | None = Field(default=None, max_length=200)
    variables: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})
    params: dict[str, Any] = Field(default_factory=dict)
    model: str | None = Field(default=None, min_length=1, max_length=200)
    tools: list[dict[str, Any]] | None = Field(default=None, max_length=128)
    metadata: dict[str, Any] = Field(default_factory=dict)

    def canonical(self) -> dict[str, Any]:
        """The content as stored and hashed: every field present, in JSON types."""
        return self.model_dump(mode="json")


def content_hash(content: dict[str, Any]) -> str:
    """SHA-256 (hex) of the content's canonical JSON (keys sorted)."""
    return hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()


@dataclass(frozen=True, slots=True)
class PromptKey:
    """Which prompt: a name within a tenant's project."""

    tenant_id: str
    project_id: str
    name: str

    @property
    def resource(self) -> str:
        """How the audit log names the prompt."""
        return f"prompt/{self.project_id}/{self.name}"


@dataclass(frozen=True, slots=True)
class Version:
    """One immutable version of a prompt (only `archived` ever changes)."""

    tenant_id: str
    project_id: str
    name: str
    version: int
    type: str
    content: dict[str, Any]
    content_hash: str
    author: str
    created_ns: int
    message: str
    archived: bool

    def to_json(self, with_content: bool = True) -> dict[str, Any]:
        """The version as the API shows it."""
        shown: dict[str, Any] = {
            "name": self.name,
            "project": self.project_id,
            "version": self.version,
            "type": self.type,
            "content": self.content,
            "content_hash": self.content_hash,
            "author": self.author,
            "created_at": iso_time(self.created_ns),
            "message": self.message,
            "archived": self.archived,
        }
        if not with_content:
            del shown["content"]
        return shown


@dataclass(frozen=True, slots=True)
class Split:
    """One share of a split label: a version and its weight."""

    version: int
    weight: int


@dataclass(frozen=True, slots=True)
class LabelTarget:
    """What a label points at: one version, or weighted splits of versions."""

    version: int | None = None
    splits: tuple[Split, ...] | None = None

    def versions(self) -> list[int]:
        """Every version this target can serve."""
        if self.splits is not None:
            return [split.version for split in self.splits]
        return [self.version] if self.version is not None else []

    def to_json(self) -> dict[str, Any]:
        """`{"version": n}` or `{"splits": [{"version", "weight"}, ...]}`."""
        if self.splits is not None:
            return {"splits": [{"version": s.version, "weight": s.weight} for s in self.splits]}
        return {"version": self.version}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> LabelTarget:
        """The target `to_json` wrote."""
        if "splits" in value:
            return cls(splits=tuple(Split(s["version"], s["weight"]) for s in value["splits"]))
        return cls(version=value["version"])

    def check(self) -> LabelTarget:
        """This target if it is well formed; 400 naming the field otherwise."""
        if (self.version is None) == (self.splits is None):
            raise InvalidRequestError("give either version or splits", param="version")
        if self.version is not None and not 1 <= self.version <= VERSION_MAX:
            raise InvalidRequestError("version must be a positive integer", param="version")
        if self.splits is None:
            return self
        if not 1 <= len(self.splits) <= MAX_SPLITS:
            raise InvalidRequestError(f"give 1 to {MAX_SPLITS} splits", param="splits")
        for i, split in enumerate(self.splits):
            if not 1 <= split.version <= VERSION_MAX:
                raise InvalidRequestError("a positive version", param=f"splits.{i}.version")
            if not 1 <= split.weight <= MAX_WEIGHT:
                raise InvalidRequestError(
                    f"weights are integers from 1 to {MAX_WEIGHT}", param=f"splits.{i}.weight"
                )
        if len({split.version for split in self.splits}) != len(self.splits):
            raise InvalidRequestError("a version appears twice in splits", param="splits")
        return self


@dataclass(frozen=True, slots=True)
class LabelState:
    """A label of a prompt: its target, whether it is protected, who moved it last."""

    label: str
    target: LabelTarget
    protected: bool
    updated_ns: int
    updated_by: str

    def to_json(self) -> dict[str, Any]:
        """The label as the API shows it."""
        splits = self.target.to_json().get("splits")
        return {
            "label": self.label,
            "version": self.target.version,
            "splits": splits,
            "protected": self.protected,
            "updated_at": iso_time(self.updated_ns),
            "updated_by": self.updated_by,
        }


@dataclass(frozen=True, slots=True)
class PromptRef:
    """A prompt named by a request: by label or by version number."""

    name: str
    label: str | None = DEFAULT_LABEL
    version: int | None = None


def parse_prompt_ref(value: object) -> PromptRef:
    """A request's `prompt` field (`{"name", "label"}` or `{"name", "version"}`; neither means
    label `production`) as a `PromptRef`; 400 naming the bad part otherwise."""
    if not isinstance(value, dict):
        raise InvalidRequestError(
            'prompt must be an object such as {"name": "...", "label": "production"}',
            param="prompt",
        )
    unknown = sorted(str(key) for key in value if key not in ("name", "label", "version"))
    if unknown:
        raise InvalidRequestError(
            f"unknown field prompt.{unknown[0]}: give name and label or version",
            param=f"prompt.{unknown[0]}",
        )
    name = value.get("name")
    if not isinstance(name, str):
        raise InvalidRequestError("prompt.name must be a string", param="prompt.name")
    check_name(name, "prompt.name")
    label, version = value.get("label"), value.get("version")
    if label is not None and version is not None:
        raise InvalidRequestError("give prompt.label or prompt.version, not both", param="prompt")
    if version is not None:
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise InvalidRequestError(
                "prompt.version must be a positive integer", param="prompt.version"
            )
        return PromptRef(name, None, version)
    if label is None:
        return PromptRef(name)
    if not isinstance(label, str):
        raise InvalidRequestError("prompt.label must be a string", param="prompt.label")
    return PromptRef(name, check_label(label, "prompt.label"))


@dataclass(frozen=True, slots=True)
class PromptSnapshot:
    """What serving a prompt needs: its latest version number, its labels and the versions
    they point at (read together, cached by the resolver)."""

    latest_version: int
    labels: dict[str, LabelState]
    versions: dict[int, Version]
