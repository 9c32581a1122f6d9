"""Everything that knows Directo exists: HTTP (`client`), XML (`codec`, `render`,
`results`), typed records (`schemas`), the `errors` tree, the capability `probe`, and the
XML Direct look-alike `sandbox`. This package does no database work.
"""
