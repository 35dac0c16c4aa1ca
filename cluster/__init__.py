"""The cluster's configuration model and the deploy functions that read it."""
