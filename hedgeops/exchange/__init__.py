"""Venues: the Venue protocol (the one seam to exchanges), replayed market data and paper execution."""
