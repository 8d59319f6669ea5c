"""The tools around the saver: the file readers (inspect, follow, recover) and the child-process
sandbox they read in, the demo, the command line and the benchmark harness."""
