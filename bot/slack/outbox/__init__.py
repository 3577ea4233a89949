"""The outbox: posts queued announcements to Slack, exactly once, oldest first (see `loop`)."""

from bot.slack.outbox.loop import HISTORY_MARGIN, MAX_RETRY_AFTER, HistoryUnreadable, Outbox

__all__ = ["HISTORY_MARGIN", "MAX_RETRY_AFTER", "HistoryUnreadable", "Outbox"]
