"""Fifty power cuts at random instants: nothing acknowledged is lost or duplicated."""

from power import PowerCuts


def test_fifty_power_cuts(tmp_path):
    tally = PowerCuts(tmp_path, seed=5).run(kills=50)
    print(tally.line())
    assert tally.problems == []
    assert (tally.lost, tally.duplicated) == (0, 0)
    assert tally.tickets_acknowledged > 100 and tally.calls_acknowledged > 100
