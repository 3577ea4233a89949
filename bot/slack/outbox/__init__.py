"""The outbox: posts queued announcements to Slack, exactly once, oldest first.

Crash safety rests on five rules, each written down beside the code that keeps it:
1. A delivery is marked "sending" (committed) before `chat.postMessage`, and "sent" after
   (`send`).
2. A delivery found "sending" is first looked for in the channel's history, and posted again only
   when it is surely not there; an unreadable history makes it wait (`history`, `send`).
3. Each channel is worked by one process at a time, under a lease in SQLite (`loop`).
4. A post happens only right after the transaction that marks it "sending" found the lease still
   ours, and while at least half of that lease is left (`send`).
5. What a try makes of a delivery applies only while no other try began since (`schedule`).

The parts build on each other: `Outbox` (loop) is `Sending` (send) is `Scheduling` (schedule).
The marks of rule 1 of posts going out at about the same time share a transaction (`group`).
"""

from bot.slack.outbox.history import HISTORY_MARGIN, HistoryUnreadable
from bot.slack.outbox.loop import Outbox
from bot.slack.outbox.schedule import MAX_RETRY_AFTER

__all__ = ["HISTORY_MARGIN", "MAX_RETRY_AFTER", "HistoryUnreadable", "Outbox"]
