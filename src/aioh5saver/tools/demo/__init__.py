"""``aioh5saver demo``: simulated async instrument drivers writing one PyMoDAQ file.

The instruments are in :mod:`.instruments`, the acquisition that runs them through one
:class:`~aioh5saver.AsyncH5Saver` in :mod:`.acquisition`, and what the command line shows while
it runs in :mod:`.display`.
"""
