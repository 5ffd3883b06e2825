"""The operational tier: components of the local pipeline stopped and restarted mid-stream,
then `k2 lake verify` against the session: 0 missing, 0 duplicated, 0 unexpected.

- the connector stopped mid-stream (what its SIGTERM handler does) and a new one started on
  the same journal, while the replay server starts the session over;
- the event source mapping's runner killed after a few batches and a new one resumed from
  the checkpoints the first one reached, as Lambda's mapping resumes from stored checkpoints;
- the AWS endpoint restarting: every request of every component dropped for 6 s mid-stream.
(The connector process itself under SIGTERM is tests/connector/test_connector_process.py.)
"""

from __future__ import annotations

import pytest

from k2.adapters.iceberg import TradesCommitter
from k2_devtools.local.event_source import ShardProgress
from k2_devtools.local.pipeline import polling
from tests.support.fault_proxy import FaultPlan
from tests.support.pipeline_harness import assert_exactly_once, lake_verify, pipeline

pytestmark = [pytest.mark.operational, pytest.mark.timeout(300)]


def test_a_connector_restarted_mid_stream_resumes_from_its_journal(replay_session):
    with pipeline(replay_session) as p:
        event_source = p.event_source()
        with polling(event_source):
            assert not p.stream(speed=30, duration_s=4)  # stopped mid-session, as by SIGTERM
            assert p.stream(speed=0)  # a new connector, the same journal; the server restarts
        event_source.drain()
        TradesCommitter(p.local.lake).run()
        assert_exactly_once(lake_verify(replay_session))


class RunnerKilled(Exception):
    """Stands for the mapping's runner process dying."""


def test_the_mapping_resumes_from_its_checkpoints_after_its_runner_dies(replay_session):
    with pipeline(replay_session) as p:
        assert p.stream(speed=0)
        first = p.event_source(batch_size=5)  # small batches: the runner dies mid-backlog

        def die_after_three_batches(progress: ShardProgress) -> None:
            if sum(s.invocations for s in first.shards.values()) >= 3:
                raise RunnerKilled

        with pytest.raises(RunnerKilled):
            first.drain(die_after_three_batches)
        checkpoints = {
            sid: ShardProgress(sid, checkpoint=s.checkpoint) for sid, s in first.shards.items()
        }
        second = p.event_source(batch_size=5)
        second.shards.update(checkpoints)
        second.drain()
        done_first = sum(s.records for s in first.shards.values())
        done_second = sum(s.records for s in second.shards.values())
        assert 0 < done_first < p.writer.stats.records
        assert done_first + done_second == p.writer.stats.records  # nothing read twice
        TradesCommitter(p.local.lake).run()
        assert_exactly_once(lake_verify(replay_session))


def test_the_pipeline_rides_out_an_endpoint_restart(replay_session):
    """Every AWS call of every component - connector puts, mapping reads, handler writes -
    goes unanswered for 6 s mid-stream; all of them retry and nothing is lost or doubled."""
    plan = FaultPlan(endpoint_down_after_s=3.0, endpoint_down_s=6.0)
    with pipeline(replay_session, plan) as p:
        event_source = p.event_source()
        with polling(event_source):
            assert p.stream(speed=30)
        event_source.drain()
        TradesCommitter(p.local.lake).run()
        assert p.proxy is not None
        assert p.proxy.stats.dropped_while_down > 0  # the restart really happened mid-stream
        assert event_source.unreachable > 0  # and the mapping waited it out
        assert_exactly_once(lake_verify(replay_session))
