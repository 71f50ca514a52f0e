"""Drivers: pure command builders and output parsers (database, web server, drush, files)."""
