"""Custom pyinfra operations for the KVM cluster deploy.

One contract for every operation:

- its rendering inputs are explicit arguments (values of the validated
  settings); only the steps (``cluster.steps``) read ``host.data``;
- the host's state comes as ``current``: the probe's sections by name
  (``files``, ``services``, ``interfaces``, ``network_manager``, ``pools``,
  ``pool_paths``, ``nfs_client``, ``sysctl``, ``iommu``, ``firewall``,
  ``account``, ``packages``: ``facts.host.HostProbe``); a step passes the
  whole probe, a fixture only the sections the operation reads; an operation
  reads them with ``_probe.section`` and ``_probe.file_digest``;
- it restarts what it configures when that changes; where a step must know
  whether an operation changed anything, it asks the operation (pyinfra's
  ``OperationMeta.changed``), never re-renders its file;
- it fails a host with ``_log.fail_command``, which names what is wrong.
"""
