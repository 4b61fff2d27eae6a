"""A package installed beside agentdeck for one test: its module and a real dist-info whose
`entry_points.txt` registers its entries, on `sys.path`, the plugin loader told to look again,
and all of it gone afterwards. How the entry-point extension points are tested."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from agentdeck.plugins import forget_plugins


@contextmanager
def installed_package(
    root: Path, package: str, source: str, entries: dict[str, dict[str, str]]
) -> Iterator[None]:
    """Install `package` (its `__init__.py` is `source`) under `root` with `entries`
    (group -> name -> `module:attribute`) for the duration of the block."""
    (root / package).mkdir()
    (root / package / "__init__.py").write_text(textwrap.dedent(source))
    info = root / f"{package}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "".join(
            f"[{group}]\n" + "".join(f"{name} = {target}\n" for name, target in named.items())
            for group, named in entries.items()
        )
    )
    sys.path.insert(0, str(root))
    forget_plugins()
    try:
        yield
    finally:
        sys.path.remove(str(root))
        sys.modules.pop(package, None)
        forget_plugins()
