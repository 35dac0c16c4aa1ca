"""Settings for the host exporting the secondary (NFS) storage pool."""
