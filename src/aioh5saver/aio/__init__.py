"""The async writer service: AsyncH5Saver, its queue, and the writer thread's side."""
