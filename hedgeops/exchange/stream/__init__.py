"""The streaming venue: one account's websockets (ccxt.pro) kept as a live state over its REST venue."""

from hedgeops.exchange.stream.state import LiveState, StreamUpdate
from hedgeops.exchange.stream.venue import StreamingVenue, StreamStats, streaming_venue

__all__ = ["LiveState", "StreamStats", "StreamUpdate", "StreamingVenue", "streaming_venue"]
