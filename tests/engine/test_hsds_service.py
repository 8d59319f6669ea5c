"""The test HSDS service (:mod:`hsds_server`) is real: a domain written through h5pyd reads
back, also from a second client, and its nodes are the processes the fault tests kill."""

from __future__ import annotations

import numpy as np

from hsds_server import HsdsServer


def test_a_domain_written_through_h5pyd_reads_back(hsds_server: HsdsServer) -> None:
    """A new domain holding a group, an attribute and a grown dataset is read back by another
    client once the writer closed it."""
    import h5pyd

    domain = hsds_server.domain("service_check.h5")
    with h5pyd.File(domain, "w", endpoint=hsds_server.endpoint) as file:
        group = file.create_group("RawData")
        group.attrs["type"] = "scan"
        data = group.create_dataset("rows", shape=(0,), maxshape=(None,), dtype="f8")
        data.resize((5,))
        data[0:5] = np.arange(5.0)
    with h5pyd.File(domain, "r", endpoint=hsds_server.endpoint) as file:
        assert file["RawData"].attrs["type"] == "scan"
        assert file["RawData/rows"][()].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_the_service_runs_its_data_nodes_in_its_process_group(hsds_server: HsdsServer) -> None:
    """The service is READY with one service node and its data nodes, found by process id."""
    assert hsds_server.about()["state"] == "READY"
    assert len(hsds_server.node_pids("sn")) == 1
    assert len(hsds_server.node_pids("dn")) == hsds_server.data_nodes
