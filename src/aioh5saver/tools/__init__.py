"""The tools around the saver: inspect, follow, recover, demo, the command line and bench."""
