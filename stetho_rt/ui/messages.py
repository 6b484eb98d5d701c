"""Messages other threads may post to the dashboard (``app.post_message`` is thread-safe).

The dashboard reads lifecycle news from each snapshot, so posting is optional: it only makes rare
news (device lost, source ended, pipeline failed) show at once instead of at the next poll. The
snapshot stays the single source of truth: publish the snapshot carrying the news, then post.
Real-time threads must never call ``call_from_thread`` (it blocks until the UI has run it).
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message


@dataclass
class LifecycleNews(Message):
    """The stream's state changed: ``status`` is "ended", "failed: ...", "device lost", ...."""

    status: str
    """The new state, in the words of :func:`stetho_rt.ui.widgets.status.lifecycle_of`."""

    def can_replace(self, message: Message) -> bool:
        """A burst of news collapses to the latest."""
        return isinstance(message, LifecycleNews)
