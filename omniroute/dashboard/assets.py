"""Files a dashboard panel ships inside its Python package, found without touching anything
outside the package: ``"package:path/inside/it"`` names one."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

#: What the dashboard serves, by suffix; anything else in a package stays private.
CONTENT_TYPES = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".json": "application/json",
    ".html": "text/html",
}


def split_spec(spec: str) -> tuple[str, str]:
    """``"package:path"`` as its two parts (checked when the panel was built)."""
    package, _, path = spec.partition(":")
    return package, path


def asset_url(spec: str) -> str:
    """Where the dashboard serves the file ``spec`` names."""
    package, path = split_spec(spec)
    return f"/dashboard/plugins/{package}/{path}"


class PackageFiles:
    """Serves files from the packages that registered panels name, and from no others."""

    def __init__(self, packages: Iterable[str]) -> None:
        self._roots: dict[str, Path] = {}
        for package in packages:
            root = package_root(package)
            if root is not None:
                self._roots[package] = root

    def find(self, package: str, path: str) -> Path | None:
        """The file ``path`` inside ``package``, if the dashboard may serve it."""
        root = self._roots.get(package)
        if root is None or PurePosixPath(path).suffix not in CONTENT_TYPES:
            return None
        parts = PurePosixPath(path).parts
        if not parts or any(part in ("..", "") or part.startswith(".") for part in parts):
            return None
        candidate = root.joinpath(*parts)
        try:
            resolved = candidate.resolve(strict=True)
        except (FileNotFoundError, NotADirectoryError):
            return None
        # A symbolic link out of the package is refused like '..'.
        if not resolved.is_file() or not resolved.is_relative_to(root):
            return None
        return resolved


def package_root(package: str) -> Path | None:
    """The directory of an importable package (without importing it), or None."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))).resolve()
