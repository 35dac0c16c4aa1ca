"""After a deploy: the per-host summary (python -m report.summary) and the VM smoke test
(python -m report.smoke), each reaching the hosts the way the deploy does."""
