"""SQLite storage: the one place that holds SQL.

One `Store` composed of parts, one concern each, sharing one connection (`base`):
`releases` (every release ever seen), `search_index` (its FTS5 layout, encoding and reads;
`vocabulary`, the words, stems and acronyms counted beside it; `tokenizer`, the index's own),
`alerts` (members' saved queries, the keys they are indexed under, and a new release's
candidates), `deliveries` (the outbox: one row per release and channel, and the leases that
let one process at a time post to a channel), `digests` (routes' schedules, the releases
collected for a channel's next digest, the digests made of them), `routes` (which channel
announces which categories, the audit log of admin changes, and the settings seeded once),
`state` (poll health per feed URL, how far the archive backfill got per archive URL),
`installations` (the workspaces of distribution mode, their OAuth states, and their leaving)
and `schema` (the tables, brought up to date at start).
"""

from bot.models import (
    ALERT,
    ANNOUNCE,
    DIGEST,
    SHARE,
    SINGLE_WORKSPACE,
    UPDATE,
    Alert,
    ArchiveStatus,
    Change,
    Delivery,
    FeedStatus,
    Held,
    Holder,
    Installation,
    Lease,
    Place,
    Route,
)
from bot.store import schema
from bot.store.alerts import AlertsMixin
from bot.store.base import BACKUP_PAGES, BUSY_TIMEOUT_MS, SchemaTooNew, StoreBase
from bot.store.deliveries import (
    COLLECTED,
    DIGESTED,
    DISCARDED,
    FAILED,
    HELD,
    PENDING,
    RATE_LIMITED,
    SENDING,
    SENT,
    DeliveriesMixin,
    lease_name,
)
from bot.store.digests import DigestsMixin
from bot.store.installations import InstallationsMixin
from bot.store.releases import ReleasesMixin
from bot.store.routes import RoutesMixin
from bot.store.schema import SCHEMA_VERSION
from bot.store.search_index import (
    JOIN,
    LAST_DATED_KEY,
    SEARCH_COLUMNS,
    SEARCH_WEIGHTS,
    UNDATED_KEY,
    author_key,
    category_key,
    in_title,
    published_rowids,
    release_key,
)
from bot.store.state import BAD_ITEM_EXAMPLES, DONE, NOT_STARTED, RUNNING, StateMixin
from bot.store.tokenizer import MARK_CLOSE, MARK_OPEN, TOKENIZER


class Store(
    ReleasesMixin,
    RoutesMixin,
    DigestsMixin,
    AlertsMixin,
    DeliveriesMixin,
    InstallationsMixin,
    StateMixin,
    StoreBase,
):
    """All reads and writes of the bot's SQLite database."""

    schema_version = SCHEMA_VERSION

    def ensure_schema(self) -> None:
        """Create tables and indexes that do not exist yet; safe at every start."""
        schema.ensure_schema(self)


# What the rest of the bot imports from here; the row types are bot.models' (re-exported for
# code written before they moved there).
__all__ = [
    "ALERT",
    "ANNOUNCE",
    "BACKUP_PAGES",
    "BAD_ITEM_EXAMPLES",
    "BUSY_TIMEOUT_MS",
    "COLLECTED",
    "DIGEST",
    "DIGESTED",
    "DISCARDED",
    "DONE",
    "FAILED",
    "HELD",
    "JOIN",
    "LAST_DATED_KEY",
    "MARK_CLOSE",
    "MARK_OPEN",
    "NOT_STARTED",
    "PENDING",
    "RATE_LIMITED",
    "RUNNING",
    "SCHEMA_VERSION",
    "SEARCH_COLUMNS",
    "SEARCH_WEIGHTS",
    "SENDING",
    "SENT",
    "SHARE",
    "SINGLE_WORKSPACE",
    "TOKENIZER",
    "UNDATED_KEY",
    "UPDATE",
    "Alert",
    "ArchiveStatus",
    "Change",
    "Delivery",
    "FeedStatus",
    "Held",
    "Holder",
    "Installation",
    "Lease",
    "Place",
    "Route",
    "SchemaTooNew",
    "Store",
    "author_key",
    "category_key",
    "in_title",
    "lease_name",
    "published_rowids",
    "release_key",
]
