"""The configuration model: every key, its rule, and the validated settings of each host."""
