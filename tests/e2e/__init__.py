"""The kind end-to-end test: HedgeOps on a real Kubernetes cluster (see README.md in this folder)."""
