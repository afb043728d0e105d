import asyncio, time, sys
from datetime import timedelta, datetime, UTC
from pathlib import Path
import hedgeops.cli
from hedgeops.local.runner import LocalOptions, run_local
t0 = time.perf_counter()
s = asyncio.run(run_local(LocalOptions([Path(sys.argv[2])], timedelta(days=int(sys.argv[1])), start=datetime.fromisoformat(sys.argv[3]), json=True, series=True, history=True)))
print("total", round(time.perf_counter() - t0, 2), s["fundingArbitrages"][0]["pnlQuote"] if s["fundingArbitrages"] else "")
