"""Fifty power cuts at random instants: nothing acknowledged is lost or duplicated."""

import pytest

from power import PowerCuts


@pytest.mark.timeout(300)   # fifty boots: about 45 s on an idle machine
def test_fifty_power_cuts(tmp_path):
    tally = PowerCuts(tmp_path, seed=5).run(kills=50)
    print(tally.line())
    assert tally.problems == []
    assert (tally.lost, tally.duplicated) == (0, 0)
    assert tally.tickets_acknowledged > 100 and tally.calls_acknowledged > 100
