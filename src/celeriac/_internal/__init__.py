"""Small named helpers used across celeriac; nothing here is public."""
