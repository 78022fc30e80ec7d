"""resummarize: find and repair broken LLM summaries in daily arXiv digests.

The public surface: `load` a digest, `scan` digests for what needs repair, `repair` them, with
`Settings` and `RepairOptions` saying how; every exception raised on purpose is in `errors`.
`repair` and `scan` are imported on first use, so that `import resummarize` (and the pytest plugin)
stays cheap.
"""

from typing import TYPE_CHECKING, Any

from resummarize import errors
from resummarize.config import RepairOptions, Settings
from resummarize.digest import load
from resummarize.digest.model import FIELDS, Digest, Entry

if TYPE_CHECKING:
    from resummarize.engine import repair
    from resummarize.plan import scan

__all__ = ["FIELDS", "Digest", "Entry", "RepairOptions", "Settings", "errors", "load", "repair", "scan"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name == "repair":
        from resummarize.engine import repair

        return repair
    if name == "scan":
        from resummarize.plan import scan

        return scan
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
