"""The cluster's configuration model (cluster.model), the deploy's steps (cluster.steps),
and the deploy's patches of pyinfra's internals (cluster.pyinfra_patches)."""
