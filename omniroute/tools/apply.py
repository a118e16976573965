"""Writing a tool's configuration file: back up what is there, merge, write atomically.

The home directory is ``CLI_TOOLS_HOME`` when set (tests point it at a temporary directory),
else the home of the user running the gateway or the CLI. The key is written only into the
file itself (mode 0600 for files that hold it) and never logged.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from omniroute.errors import BadRequest, ErrorKind, GatewayError
from omniroute.tools.catalog import Tool
from omniroute.tools.configs import CannotMerge, Target

HOME_ENV = "CLI_TOOLS_HOME"
BACKUP_MARK = ".omniroute-backup-"


def tools_home() -> Path:
    """Where the tools' configuration files live: ``CLI_TOOLS_HOME`` or the user's home."""
    override = os.environ.get(HOME_ENV)
    return Path(override).expanduser() if override else Path.home()


@dataclass(frozen=True)
class Applied:
    """What an apply did: the file written, the backup of the previous one, if any."""

    path: Path
    backup: Path | None

    def to_api(self, tool: Tool) -> dict[str, object]:
        return {
            "tool": tool.id,
            "path": str(self.path),
            "backupPath": str(self.backup) if self.backup else None,
            "created": self.backup is None,
        }


def backup_path(path: Path, now: datetime | None = None) -> Path:
    """``<file>.omniroute-backup-<UTC timestamp>``, never an existing file's name."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    candidate = path.with_name(f"{path.name}{BACKUP_MARK}{stamp}")
    n = 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}{BACKUP_MARK}{stamp}-{n}")
    return candidate


def write_atomic(path: Path, text: str, mode: int) -> None:
    """Write a temporary file beside ``path`` and rename it over: a reader (the tool) sees
    the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def apply(tool: Tool, target: Target, home: Path | None = None) -> Applied:
    """Write ``tool``'s file for ``target``, merged into the existing one after backing it up."""
    if tool.config is None:
        raise BadRequest(
            f"{tool.name} is configured in its own settings; there is no file to write",
            code="no_config_file",
        )
    if tool.requires_model and not target.model:
        raise BadRequest(f"{tool.name} needs a model name", param="model")
    path = (home or tools_home()) / tool.config.path
    existing = path.read_text(encoding="utf-8") if path.exists() else None
    try:
        text = (
            tool.config.merge(existing, target)
            if existing is not None
            else tool.config.render(target)
        )
    except CannotMerge as exc:
        raise GatewayError(
            ErrorKind.BAD_REQUEST, str(exc), status=409, code="cannot_merge", param="file"
        ) from None
    backup = None
    if existing is not None:
        backup = backup_path(path)
        shutil.copy2(path, backup)
        os.chmod(backup, 0o600)
    if tool.config.holds_key:
        mode = 0o600
    else:
        mode = path.stat().st_mode & 0o777 if existing is not None else 0o644
    write_atomic(path, text, mode)
    return Applied(path, backup)
