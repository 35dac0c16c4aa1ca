"""Custom pyinfra operations for the KVM cluster deploy.

Operations take explicit arguments (facts the deploy already gathered, values
from the validated settings); only ``cluster.steps.common`` reads ``host.data``.
"""
