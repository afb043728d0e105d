"""`hedgeops operator --help` ends with the HEDGEOPS_* settings, listed from the settings model only when the help
is shown: the model imports pydantic-settings, a fifth of a second no other command should pay at start."""

from __future__ import annotations

import argparse

SETTINGS_EPILOG = "(the HEDGEOPS_* settings)"  # the parser's epilog: stands for the list until the help is shown


class SettingsHelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Raw, so that the list keeps its lines; the epilog placeholder becomes the list."""

    def add_text(self, text: str | None) -> None:
        if text == SETTINGS_EPILOG:
            from hedgeops.operator.settings import settings_help

            text = settings_help()
        super().add_text(text)
