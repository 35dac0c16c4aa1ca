"""The deploy's steps: pyinfra @deploy functions that read the validated settings and the
probe, and call the operations with explicit arguments."""
