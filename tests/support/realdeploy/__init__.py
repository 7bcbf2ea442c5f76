"""Helpers that run syncd's deployment artefacts for real.

``tests/deployment/test_real_systemd.py`` boots a Debian bookworm root file system under
``systemd-nspawn`` and drives ``systemd/*.service`` through ``systemctl``;
``tests/deployment/test_real_image.py`` builds the unchanged ``Dockerfile`` with podman and
runs the image. Both need root and a few Debian packages (``.ci/run`` installs
them). Outside CI a missing prerequisite skips the tests with its reason; with
``CI=true`` it fails them, so a CI run can never pass without the proofs.

Expensive inputs (the root file system, the base image) are cached outside the
clone under ``$REALDEPLOY_CACHE`` (default ``/var/cache/syncd-ci``), keyed by a
hash of everything that goes into them.
"""
