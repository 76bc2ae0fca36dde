"""Rule templates: each mechanism written once, parameterised by a family's tables and wording.

A family declares a rule by subclassing a template with its id, name, family, ``data`` (a
:class:`~fhirplugin.rules.templates.family.Family`), its wording and its docstring; the subclass is
registered with ``@register`` like any rule. The templates themselves are never registered.

* :mod:`.guidance` — imaging guidance beside a code that includes it (NCCI PTP indicator 1 bypass)
* :mod:`.site` — the code the documented site and approach call for
* :mod:`.diagnosis` — a diagnosis that supports the code
* :mod:`.documentation` — imaging linked / a device left in place on the Procedure
* :mod:`.units` — units of a session against the documented count, or one unit per session
* :mod:`.addon` — an add-on code's primary procedure in the session
* :mod:`.age` — the code of the patient's age group
"""
