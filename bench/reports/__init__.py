"""Reports: the versioned JSON schema (``schema``, ``records``, ``stats``, ``upgrade``), the environment
fingerprint, writing (``writing``), Markdown and PNG views (``markdown``, ``plots``) and the
cross-machine comparison (``compare``). Reading and comparing imports neither torch nor matplotlib."""
