"""Monthly work statistics: the field catalogue, summary settings, computation, reloads."""
