"""resummarize: find and repair broken LLM summaries in daily arXiv digests."""

from resummarize.digest import load
from resummarize.digest.model import FIELDS, Digest, Entry

__all__ = ["FIELDS", "Digest", "Entry", "load"]
__version__ = "0.1.0"
