"""Wire formats: the request, response and stream shapes of each provider API, and translation
between them. Pure code with no I/O; nothing here imports the rest of bifrost-py."""
