"""Reading the demo's data files (``data/*.json`` beside this module).

They ship inside the package (``[tool.setuptools.package-data]`` in pyproject.toml), so an
installed wheel seeds the same demo as a checkout.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent / "data"


def load(name: str) -> Any:
    """The parsed content of ``data/<name>``."""
    return json.loads((DATA / name).read_text(encoding="utf-8"))
