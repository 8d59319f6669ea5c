"""The synchronous saver: PyMoDAQ's nodes and H5SaverLowLevel on the engine, nothing async."""
