"""Invoice export: mapping an Uku invoice to Directo's invoice input, validation, sending."""
