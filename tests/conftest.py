# pyinfra runs on gevent; patch before anything (docker's urllib3) imports ssl.
from gevent import monkey

monkey.patch_all()

# pyinfra-testing fakes the local filesystem by patching os.path; pyinfra 3.10
# asks pathlib, whose Path.exists() then calls the faked os.stat with an
# argument the fake does not take. Route pathlib's questions to the same fake.
from pathlib import Path  # noqa: E402
from unittest.mock import patch  # noqa: E402

import pyinfra_testing.operations  # noqa: E402
import pyinfra_testing.util  # noqa: E402


class _PathlibAwarePatchFiles(pyinfra_testing.util.patch_files):
    def __enter__(self):
        fake = self
        self._pathlib = [
            patch.object(Path, "exists", lambda p: fake.exists(str(p))),
            patch.object(Path, "is_file", lambda p: fake.isfile(str(p))),
            patch.object(Path, "is_dir", lambda p: fake.isdir(str(p))),
            patch.object(Path, "is_symlink", lambda p: fake.islink(str(p))),
        ]
        for patcher in self._pathlib:
            patcher.start()
        return super().__enter__()

    def __exit__(self, *exc):
        try:
            return super().__exit__(*exc)
        finally:
            for patcher in self._pathlib:
                patcher.stop()


pyinfra_testing.util.patch_files = _PathlibAwarePatchFiles
pyinfra_testing.operations.patch_files = _PathlibAwarePatchFiles
