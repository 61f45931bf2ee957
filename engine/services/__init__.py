"""The services: the commands and queries the web, the CLI and the API call (one transaction each)."""
