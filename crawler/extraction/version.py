"""Which extraction produced an archived article (``articles.extractor_version``).

``RULES`` is the version of the extraction rules: raise it in every change of
``crawler/extraction`` that can change what a stored page gives (a title, author, date, body
or link rule; a new trafilatura setting), and ``arsip reextract`` will bring every article
extracted before it up to date. A change of arsip's own version alone marks them too.
"""

from __future__ import annotations

from config import __version__

RULES = 1

EXTRACTOR_VERSION = f"{__version__}+rules.{RULES}"
