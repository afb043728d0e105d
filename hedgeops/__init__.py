"""HedgeOps: delta-neutral crypto strategies declared in Kubernetes and reconciled by an operator."""

__version__ = "0.1.0"

GROUP = "hedgeops.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
