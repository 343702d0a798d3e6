"""The deployed local cloud's long-lived objects are kept out of the cyclic collector's walk.

A full collection walks every tracked object; with the stack deployed that is some 400k
long-lived models (moto's, botocore's, the parsed programs) and costs ~330 ms, charged to
whichever handler's allocation triggers it. ``LocalCloudSettings.freeze_deployed_heap`` freezes
them after the deployment and thaws them at ``stop``.
"""

from __future__ import annotations

import gc

from localcloud.cloud import LocalCloud, LocalCloudSettings, free_port


def _tracked(obj: object) -> bool:
    """Whether the collector's generations (not the frozen one) hold ``obj``."""
    return any(candidate is obj for candidate in gc.get_objects())


def test_the_deployed_stack_is_frozen_while_the_cloud_runs(local_cloud: LocalCloud) -> None:
    assert gc.get_freeze_count() > 10_000
    # The gateway and the deployed stack's description exist since the start: frozen.
    assert gc.is_tracked(local_cloud.gateway)
    assert not _tracked(local_cloud.gateway)
    assert not _tracked(local_cloud.stack)
    # Objects made afterwards are collected as usual.
    later: list[object] = [["made after the start"]]
    assert _tracked(later)


def test_a_cycle_made_after_the_start_is_still_collected(local_cloud: LocalCloud) -> None:
    class Node:
        partner: object = None

    first, second = Node(), Node()
    first.partner, second.partner = second, first
    first_id = id(first)
    del first, second
    gc.collect()
    assert not any(id(obj) == first_id and isinstance(obj, Node) for obj in gc.get_objects())


def test_stop_thaws_what_start_froze(local_cloud: LocalCloud) -> None:
    # A cloud that never started, stopped: the session's frozen objects are thawed, then the
    # test freezes them again so that the rest of the session keeps the saving.
    idle = LocalCloud(LocalCloudSettings(gateway_port=free_port(), aws_port=free_port()))
    try:
        idle.stop()
        assert gc.get_freeze_count() == 0
        assert _tracked(local_cloud.gateway)
    finally:
        gc.freeze()


def test_freezing_can_be_turned_off(local_cloud: LocalCloud) -> None:
    settings = LocalCloudSettings(
        gateway_port=free_port(), aws_port=free_port(), freeze_deployed_heap=False
    )
    LocalCloud(settings).stop()
    # Still frozen (the count itself moves as frozen objects die).
    assert gc.get_freeze_count() > 10_000
    assert not _tracked(local_cloud.gateway)
