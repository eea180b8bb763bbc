"""Schemathesis check: a key of tenant `acme` never reads or changes anything of tenant `rival`.

Loaded with SCHEMATHESIS_HOOKS by tests/api_fuzz.rs.
"""

import schemathesis

RIVAL_MARKER = "RIVAL_MARKER"


@schemathesis.check
def no_cross_tenant_access(ctx, response, case):
    if RIVAL_MARKER in response.text:
        raise AssertionError(f"{case.method} {case.formatted_path} revealed another tenant's data")
    if "/tenants/rival" in case.formatted_path and response.status_code < 400:
        raise AssertionError(
            f"{case.method} {case.formatted_path} answered {response.status_code} to another tenant's key"
        )
