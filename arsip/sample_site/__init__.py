"""The bundled sample news site (demo and test fixture) and its local HTTP server."""
