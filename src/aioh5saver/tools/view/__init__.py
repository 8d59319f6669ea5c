"""The live view behind ``aioh5saver view``: a local web server that serves h5web's viewer and
an h5grove API on one HDF5 file, read as a SWMR reader while another process writes it.

The modules, one job each: :mod:`.source` opens (and reopens) the file, :mod:`.entities`
finds and describes its nodes without leaving it, :mod:`.attributes` decodes their attributes,
:mod:`.api` answers h5grove's endpoints, :mod:`.static` holds the shipped front end, and
:mod:`.server` is the HTTP server. They need the ``view`` extra (h5grove); nothing else in
the package imports them.
"""
