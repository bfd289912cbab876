"""Settings: the version, the config model (:mod:`config.model`), its loading
(:mod:`config.loading`) and validation (:mod:`config.validation`).

The bottom layer: it imports nothing of arsip's own, and every other layer may import it.
"""

__version__ = "0.1.0"
