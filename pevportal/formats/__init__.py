"""Per-language format overrides (settings.FORMAT_MODULE_PATH); Django's own formats fill in the rest."""
