"""``python -m jessl_lite.exercises strip SOURCE TARGET [--force]``: write a chapter's student version."""

from . import _main

_main()
