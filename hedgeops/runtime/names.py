"""Kubernetes object names as the API server accepts them: anything else never reaches an API path."""

from __future__ import annotations

import re

# RFC 1123 label (namespaces) and DNS-1123 subdomain (most object names, HedgeBooks and Secrets among them),
# exactly as Kubernetes validates them. A subdomain's dots only separate labels, so "." and ".." never pass.
_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
MAX_LABEL = 63
MAX_SUBDOMAIN = 253


def is_namespace(value: str) -> bool:
    """A valid namespace name: an RFC 1123 label of at most 63 characters."""
    return len(value) <= MAX_LABEL and _LABEL.fullmatch(value) is not None


def is_object_name(value: str) -> bool:
    """A valid object name: a DNS-1123 subdomain of at most 253 characters (Kubernetes' IsDNS1123Subdomain)."""
    return len(value) <= MAX_SUBDOMAIN and _SUBDOMAIN.fullmatch(value) is not None
