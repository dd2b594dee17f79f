"""``python -m jessl_lite.exercises strip SOURCE TARGET [--force]``: write a chapter's student version
(SOURCE a notebook), or every chapter's (SOURCE a folder, TARGET a folder)."""

from . import _main

_main()
