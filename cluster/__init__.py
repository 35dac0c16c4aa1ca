"""The cluster's configuration model (cluster.model), the deploy's steps (cluster.steps),
and the two patches of pyinfra's internals (cluster.pyinfra_patches)."""
