"""``python -m jessl_lite.exercises strip SOURCE TARGET``: write a chapter's student version."""

from . import _main

_main()
