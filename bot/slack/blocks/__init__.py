"""Block Kit payloads, as pure functions of plain data, one module per Slack surface."""

from bot.slack.blocks.admin import *  # noqa: F403
from bot.slack.blocks.announcement import *  # noqa: F403
from bot.slack.blocks.common import *  # noqa: F403  (while the surfaces move out)
from bot.slack.blocks.forms import *  # noqa: F403
from bot.slack.blocks.home import *  # noqa: F403
from bot.slack.blocks.search import *  # noqa: F403
