"""The one folder the studio may read and write: its `.flow` files and its scenarios.

Every name a browser sends is checked here, once: a flow is a `NAME.flow` directly in the
folder, a scenario a `.yaml` under `scenarios/`; nothing outside the folder, nothing hidden,
no link out of it, nothing over the file size limit. A save writes a temporary file beside
the target and renames it over, so a crash never leaves half a flow.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pygls.uris import to_fs_path

from dsl.config import editor_choice
from dsl.frontend import FrontendResult, compile_source
from dsl.source import Source
from engine import limits
from engine.calendar import Calendar
from engine.i18n import msg
from engine.loader import calendars_for, known_calendars
from server.problems import Problem

FLOW_NAME = re.compile(r"^[^/\\:\x00-\x1f.][^/\\:\x00-\x1f]{0,120}\.flow$")
SCENARIO_PART = re.compile(r"^[^/\\:\x00-\x1f.][^/\\:\x00-\x1f]{0,120}$")
MAX_SCENARIOS = 500


@dataclass(frozen=True)
class ScenarioFile:
    name: str  # relative to scenarios/, with forward slashes
    flow: str | None  # its `flow:`; None when the file cannot be read


class Folder:
    """A workflows folder as the studio sees it."""

    def __init__(self, root: Path, calendars: dict[str, Calendar] | None = None) -> None:
        self.root = root.resolve()
        self.calendars = calendars if calendars is not None else calendars_for(root / "x.flow")
        self.known_calendars = known_calendars(self.calendars)

    # ------------------------------------------------------------ names
    def flow_path(self, name: str) -> Path:
        """The path of flow `name`, or Problem."""
        if not FLOW_NAME.match(name):
            raise Problem(
                422, "bad_name", msg("`{name}` is not a flow file name (NAME.flow)", name=name[:80])
            )
        return self._inside(self.root / name)

    def scenario_path(self, name: str) -> Path:
        """The path of scenario `name` (relative to scenarios/), or Problem."""
        parts = name.split("/")
        if not name.endswith((".yaml", ".yml")) or not all(SCENARIO_PART.match(p) for p in parts):
            raise Problem(
                422, "bad_name", msg("`{name}` is not a scenario file name", name=name[:80])
            )
        return self._inside(self.root / "scenarios" / name)

    def _inside(self, path: Path) -> Path:
        resolved = path.resolve()
        if not resolved.is_relative_to(self.root):
            raise Problem(403, "outside", msg("that file is outside the studio's folder"))
        return resolved

    def uri(self, name: str) -> str:
        return self.flow_path(name).as_uri()

    def owns(self, uri: str) -> bool:
        """Whether a document URI names a flow of this folder (what the editor may open)."""
        path = to_fs_path(uri) if uri.startswith("file:") else None
        if not path:
            return False
        try:
            self.flow_path(Path(path).name)
        except Problem:
            return False
        return Path(path).resolve().parent == self.root

    # ------------------------------------------------------------ listing, reading, writing
    def flows(self) -> list[str]:
        return sorted(p.name for p in self.root.glob("*.flow") if FLOW_NAME.match(p.name))

    def scenarios(self) -> list[ScenarioFile]:
        """The scenario files under scenarios/, each with the flow it plays."""
        from engine.scenario import ScenarioError, load_scenario

        base = self.root / "scenarios"
        found = []
        for path in sorted(base.rglob("*.y*ml"))[:MAX_SCENARIOS] if base.is_dir() else []:
            name = path.relative_to(base).as_posix()
            try:
                flow: str | None = load_scenario(self.scenario_path(name)).flow
            except (ScenarioError, Problem):
                flow = None
            found.append(ScenarioFile(name, flow))
        return found

    def read(self, name: str) -> str:
        path = self.flow_path(name)
        if not path.is_file():
            raise Problem(404, "no_file", msg("there is no flow `{name}` here", name=name))
        if path.stat().st_size > limits.MAX_FILE_BYTES:
            raise Problem(
                413,
                "too_large",
                msg("{name} is over {n:,} bytes", name=name, n=limits.MAX_FILE_BYTES),
            )
        try:
            return path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise Problem(422, "not_utf8", msg("{name} is not UTF-8 text", name=name)) from None

    def save(self, name: str, text: str) -> None:
        """Replace (or create) flow `name` with `text`, all at once."""
        path = self.flow_path(name)
        handle, temporary = tempfile.mkstemp(dir=self.root, prefix=".studio-", suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as out:
                out.write(text)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    # ------------------------------------------------------------ checking
    def check(self, name: str, text: str) -> FrontendResult:
        """What `flow check` says of `text` as flow `name` of this folder."""
        source = Source(str(self.flow_path(name)), text)
        result = compile_source(source, calendars=self.known_calendars)
        result.diagnostics = editor_choice(self.root).apply(result.diagnostics)
        return result
