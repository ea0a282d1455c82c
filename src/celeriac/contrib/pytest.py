"""pytest plugin; its fixtures arrive with the developer-experience work."""
