"""Deployment tests: the Helm chart, its policies and schemas, the Dockerfile."""
