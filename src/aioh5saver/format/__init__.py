"""PyMoDAQ's file format and HDF5's on-disk facts, without file handles."""
