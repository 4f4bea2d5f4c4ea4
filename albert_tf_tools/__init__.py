"""The console scripts' package: the repository's ``tools/`` folder under a name no other project uses.

Installed, ``albert_tf_tools`` *is* ``tools/`` (``package_dir`` in setup.cfg maps it; this file is not
installed), so the console scripts live in a package of ours and ``import tools`` in another project
never finds our folder. In a checkout this file stands in for that mapping: ``albert_tf_tools.demo``
loads ``tools/demo.py``, so the entry points named in setup.cfg import the same way from a checkout
(the tests, ``python -m albert_tf_tools.demo``) as from an install; ``tools.X`` and ``python -m
tools.X`` keep working in a checkout as before.
"""

import os as _os

__path__ = [_os.path.join(_os.path.dirname(_os.path.dirname(_os.path.abspath(__file__))), "tools")]
