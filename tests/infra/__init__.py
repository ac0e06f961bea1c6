"""Static checks of infra/, the Dockerfile and the Kubernetes manifests (no Azure, no cluster)."""
