"""Interstitial radiation-guidance devices (fiducial markers, dosimeters): CPT 49411 and 49412.

Rules DEV001–DEV006: one unit per session however many devices (DEV001); the code the documented
site, approach or prostate-only diagnosis calls for — 55876, 32553, 49412, 49327 (DEV002); 49412 is an
add-on that needs an open primary procedure and never goes with 49411 (DEV003); imaging guidance is
part of 49412 but not of 49411 (DEV004); an abdominal, pelvic or retroperitoneal neoplasm diagnosis
(DEV005); post-placement imaging of the marker position (DEV006). The code lists, pairs, criteria,
site map and diagnosis set are data: ``terminology/devices/``, ``terminology/valuesets/device-*.json``
and ``terminology/conceptmaps/device-*.json``, read through :mod:`fhirplugin.rules.devices.data`.
Modifier validity (seed 002 lists a modifier "11" that does not exist) is left to GEN005.
"""
