"""Write the JSON Schema of every coordinator -> kiosk message, as a build's models accept them.

Run it against a checkout of a release that kiosks in the field may still run::

    git worktree add --detach /tmp/rel <commit>
    cd /tmp/rel && PYTHONPATH=. python $REPO/tests/coordinator/wire/make_schema.py \\
        > $REPO/tests/coordinator/wire/<name>.schema.json

``tests/coordinator/test_wire_compat.py`` validates what today's coordinator sends against it: the
models refuse unknown fields (``extra="forbid"`` becomes ``additionalProperties: false``), so
a field added since that release must stay out of the encoding while it is not used.
"""

import json
import sys

from pydantic import TypeAdapter

from shared import protocol

KIOSK_BOUND = ("Ack", "ClaimResult", "MemberUpdate", "RuleBundleMessage", "DenyListUpdate")

if __name__ == "__main__":
    schemas = {
        name: TypeAdapter(getattr(protocol, name)).json_schema(mode="validation")
        for name in KIOSK_BOUND
    }
    json.dump(schemas, sys.stdout, indent=1, sort_keys=True, ensure_ascii=False)
    sys.stdout.write("\n")
