"""The storage engine: how files are opened, locked, journaled and given room."""
