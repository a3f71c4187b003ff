"""bifrost-py: an LLM gateway with a small streaming proxy core and everything else as plugins.

The public API for plugin authors: `hookimpl`, the context objects, the errors, `Gateway`.
"""

from .budgets import BudgetUsage
from .context import (
    Advice,
    Attempt,
    Call,
    Caller,
    ModelInfo,
    Outcome,
    Reply,
    StashKey,
    Target,
    Usage,
)
from .hookspecs import hookimpl
from .settings import load_settings

__version__ = "0.1.0"
__all__ = [
    "Advice", "Attempt", "BudgetUsage", "Call", "Caller", "ModelInfo", "Outcome", "Reply", "StashKey", "Target", "Usage",
    "hookimpl", "load_settings",
]
