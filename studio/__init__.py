"""The studio: a browser page where process owners edit, check, draw and play flows."""
