"""Every rule module under this package is imported here, which registers its rule."""

from __future__ import annotations

import importlib
import pkgutil

from fhirplugin.rules.base import REGISTRY, Rule, RuleContext, register

__all__ = ["REGISTRY", "Rule", "RuleContext", "register"]


def _import_all() -> None:
    for mod in pkgutil.walk_packages(__path__, prefix=f"{__name__}."):
        if mod.name.rsplit(".", 1)[-1] in ("base",):
            continue
        importlib.import_module(mod.name)


_import_all()
