"""The back office on the hall's LAN: server, sessions, API, pages and the loop's commands."""
