"""Container images and the compose stack (see README.md)."""
