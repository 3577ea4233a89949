"""`python -m bot` is `isscr-news-bot`."""

from bot.cli import main

main()
