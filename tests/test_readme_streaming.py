"""The README's streaming figures are the ones bench/streaming.py wrote to bench/results/streaming.json: a re-run
that changes them must change the README too (and the safety figures must still be zeros)."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_streaming_figures_match_the_bench_results() -> None:
    result = json.loads((ROOT / "bench" / "results" / "streaming.json").read_text())
    readme = (ROOT / "README.md").read_text()
    streamed, polled = result["emergency_to_ack"]
    s, p = streamed["event_to_ack_ms"], polled["event_to_ack_ms"]
    assert f"**p50 {round(s['p50'])} ms, p99 {round(s['p99'])} ms** ({s['n']} events)" in readme
    assert f"p50 {round(p['p50']):,} ms, p99 {round(p['p99']):,} ms ({p['n']} events)" in readme
    steady = {r["venue"].split()[0]: r["rest_requests_per_minute"] for r in result["steady_state"]}
    assert steady["streaming"] == 0
    assert f"| **0** | {round(steady['polling'])} |" in readme
    rec = result["recovery"]
    assert rec["orders_sent_while_untrusted"] == 0 and rec["orders_per_gap"] == [1] * rec["drops"]
    assert f"p50 {rec['untrusted_s']['p50']:.1f} s, max {rec['untrusted_s']['max']:.1f} s" in readme
    assert f"acknowledged p50 {rec['ack_after_trust_s']['p50']:.1f} s after trust returned" in readme
    # The target, stated as met only while the figure meets it.
    assert s["p99"] < 50 and ("The emergency target of the issue (p99 under 50 ms) is met in the stored run "
                              "and missed on re-runs" in readme)
    streamed_mm, polled_mm = result["maker"]
    for mm in (streamed_mm, polled_mm):
        d, a = mm["touch_drift_at_fill_bps"], mm["quote_age_at_fill_s"]
        fills = f"{mm['fills']} fill{'' if mm['fills'] == 1 else 's'}"
        assert (f"{fills}: drift p50 {d['p50']:.1f} bps, max {d['max']:.1f} bps; "
                f"age p50 {a['p50']:.1f} s") in readme
    prose = " ".join(readme.split())  # the sentences below are wrapped
    assert f"never far from the touch when it fills (max {streamed_mm['touch_drift_at_fill_bps']['max']:.1f} bps in " \
        "this run)" in prose
    assert f"a polled quote is as far as the touch went in up to 10 s " \
        f"({polled_mm['touch_drift_at_fill_bps']['max']:.1f} bps in this run" in prose
    assert rec["orders_sent_while_untrusted"] == 0
