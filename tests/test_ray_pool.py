"""The Ray pool's fault plumbing without a Ray cluster: the probe of the head node and the
raylet, and the notices of Ray's it keeps off the terminal (real Ray runs in
test_execute.py and test_cluster_faults.py)."""

from __future__ import annotations

import socket

import pytest

from actsearch.execute import ClusterLost
from actsearch.execute.ray_pool import _ClusterWatch, _quiet_node_death_notices


def test_the_watch_raises_cluster_lost_once_an_endpoint_refuses() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    host, port = listener.getsockname()[:2]
    watch = _ClusterWatch([("the head node (GCS)", host, port)], logs="/tmp/ray/session_x/logs")
    try:
        watch.check(now=True)  # answers: nothing happens
    finally:
        listener.close()
    watch.check()  # probed less than a second ago: not probed again
    with pytest.raises(ClusterLost, match=r"^Ray stopped: the head node \(GCS\) no longer answers$") as lost:
        watch.check(now=True)
    assert lost.value.logs == "/tmp/ray/session_x/logs"


def test_ray_node_death_notices_go_to_the_log_not_the_terminal(capsys, caplog) -> None:
    import ray._private.worker as ray_worker

    _quiet_node_death_notices()
    _quiet_node_death_notices()  # once per process: wrapping twice changes nothing
    dump = "Raylet is terminated. Termination is unexpected. Last 20 lines:\n    [state-dump] ..."
    with caplog.at_level("INFO", logger="actsearch.execute.ray_pool"):
        ray_worker.print_to_stdstream({"lines": [dump], "pid": "raylet", "is_err": False}, ignore_prefix=False)
    ray_worker.print_to_stdstream({"lines": ["other news"], "pid": "raylet", "is_err": False}, ignore_prefix=False)
    out = capsys.readouterr().out
    assert "Raylet is terminated" not in out and "other news" in out
    assert "Raylet is terminated" in caplog.text
