"""The storage interface (what the saver needs from an engine, and its capability flags) and the
h5py engine: files opened, locked, journaled, appended to and given room."""
