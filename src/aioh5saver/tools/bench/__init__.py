"""The benchmark harness: aioh5saver against what labs use today, measured side by side.

Run it with ``aioh5saver bench [--quick] [--out DIR]`` or ``python -m benchmarks``. Workloads
are in :mod:`.workloads`, the contenders (aioh5saver and the baselines) in :mod:`.contenders`,
what is measured during a run in :mod:`.probes`, and the report in :mod:`.report`. With
``--hsds``, :mod:`.hsds_run` starts a loopback HSDS (:mod:`.hsds_service`) and runs the
measures of :mod:`.hsds_measures`; :mod:`.hsds_report` gives their rows and targets.
"""
