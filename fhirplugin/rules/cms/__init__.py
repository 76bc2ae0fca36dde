"""The CMS edits every payer runs, for any code: NCCI PTP (PTP001), MUE (MUE001), add-on code edits
(AOC001), the Physician Fee Schedule payment-policy indicators (PFS001–PFS006) and HCPCS Level II code
dates (HCP001). The rules are mechanisms; the code pairs, limits and indicators are the loaded tables
(the built-in excerpt, or CMS's own files imported with ``fhirplugin data import``)."""
