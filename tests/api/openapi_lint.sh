#!/usr/bin/env bash
# Checks docs/api/openapi.yaml, the document rest-gateway serves at /openapi.yaml:
#   1. yamllint (relaxed rules, long lines allowed, warnings fail too);
#   2. it is OpenAPI 3.0.3;
#   3. its paths and methods are exactly the API's (tests/api/README.md lists them);
#   4. /scxml operations require bearerAuth, the public ones have `security: []`;
#   5. every local $ref names a component that the file defines.
# A missing yamllint is a failure, not a skip (scripts/bootstrap installs it).
#
#   openapi_lint.sh [repo root]     (default: two folders above this script)
set -uo pipefail

root=${1:-"$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"}
doc="$root/docs/api/openapi.yaml"
passed=0
failed=0
ok() { echo "ok: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
finish() {
  echo "openapi_lint: $passed passed, $failed failed"
  exit $((failed == 0 ? 0 : 1))
}

if [ ! -f "$doc" ]; then
  fail "no file $doc"
  finish
fi

# 1. yamllint.
if ! command -v yamllint >/dev/null 2>&1; then
  fail "yamllint is not installed (Debian package 'yamllint'; scripts/bootstrap installs it): cannot check $doc"
elif out=$(yamllint --strict -f parsable \
             -d '{extends: relaxed, rules: {line-length: disable}}' "$doc" 2>&1); then
  ok "yamllint ($(yamllint --version 2>&1))"
else
  fail "yamllint found problems:"
  echo "$out"
fi

# 2. The version.
if [ "$(sed -n 1p "$doc")" = "openapi: 3.0.3" ]; then
  ok "openapi: 3.0.3"
else
  fail "the first line is not 'openapi: 3.0.3': $(sed -n 1p "$doc")"
fi

# 3. Paths and methods: "METHOD PATH" for each operation under the top-level
# `paths:` (paths at two spaces of indent, methods at four).
expected=$(cat <<'EOF'
POST /scxml/session/start
POST /scxml/session/{id}/event/{name}
POST /scxml/session/{id}/request/{name}
GET /scxml/session/{id}/query
POST /scxml/session/{id}/query
POST /scxml/session/{id}/terminate
GET /ors/help
GET /healthz
GET /readyz
GET /openapi.yaml
EOF
)
actual=$(awk '
  /^[^ #]/ { in_paths = ($0 == "paths:"); next }
  !in_paths { next }
  /^  \/[^ ]*:[ ]*$/ { path = $1; sub(/:$/, "", path); next }
  /^    (get|put|post|delete|options|head|patch|trace):[ ]*$/ {
    m = $1; sub(/:$/, "", m); print toupper(m), path
  }' "$doc")
missing=$(comm -23 <(sort <<<"$expected") <(sort <<<"$actual"))
extra=$(comm -13 <(sort <<<"$expected") <(sort <<<"$actual"))
if [ -z "$missing" ] && [ -z "$extra" ]; then
  ok "the $(wc -l <<<"$expected") operations of the API, and no other"
else
  [ -n "$missing" ] && fail "operations missing from $doc:"$'\n'"$missing"
  [ -n "$extra" ] && fail "operations in $doc that the API does not have:"$'\n'"$extra"
fi

# 4. Security per operation: "METHOD PATH bearer|public|none".
security=$(awk '
  function flush() { if (op != "") print op, (sec == "" ? "none" : sec) }
  /^[^ #]/ { flush(); op = ""; in_paths = ($0 == "paths:"); next }
  !in_paths { next }
  /^  \/[^ ]*:[ ]*$/ { flush(); op = ""; path = $1; sub(/:$/, "", path); next }
  /^    [a-z]+:[ ]*$/ {
    flush(); op = ""; m = $1; sub(/:$/, "", m)
    if (m ~ /^(get|put|post|delete|options|head|patch|trace)$/) { op = toupper(m) " " path; sec = "" }
    next
  }
  op != "" && /^      security: \[\][ ]*$/ { sec = "public"; next }
  op != "" && /^      security:[ ]*$/ { want_item = 1; next }
  op != "" && want_item && /^        - bearerAuth: \[\][ ]*$/ { sec = "bearer"; want_item = 0; next }
  /^      [^ ]/ { want_item = 0 }
  END { flush() }' "$doc")
bad_security=$(awk '
  NF { op = $1 " " $2; want = ($2 ~ /^\/scxml\//) ? "bearer" : "public"
    if ($3 != want) print op ": security is " $3 ", expected " want }' <<<"$security")
if [ -z "$security" ]; then
  fail "security: no operations found"
elif [ -z "$bad_security" ]; then
  ok "bearerAuth on /scxml operations, security: [] on the public ones"
else
  fail "security:"$'\n'"$bad_security"
fi

# 5. Local $refs resolve: "#/components/<section>/<name>" defined under
# `components:` (sections at two spaces of indent, names at four).
defined=$(awk '
  /^[^ #]/ { in_c = ($0 == "components:"); next }
  !in_c { next }
  /^  [A-Za-z]+:[ ]*$/ { s = $1; sub(/:$/, "", s); next }
  /^    [A-Za-z0-9_.-]+:/ { n = $1; sub(/:$/, "", n); print "#/components/" s "/" n }' "$doc" | sort -u)
# Any other $ref (another file, a URL) fails too: the file is served alone.
refs=$(sed -n "s/^ *\(- \)\{0,1\}\\\$ref: *['\"]\{0,1\}\([^'\" ]*\)['\"]\{0,1\} *\$/\2/p" "$doc" | sort -u)
unresolved=$(comm -23 <(echo "$refs") <(echo "$defined"))
if [ -z "$refs" ]; then
  fail "no \$ref found"
elif [ -z "$unresolved" ]; then
  ok "$(wc -l <<<"$refs") distinct \$refs resolve"
else
  fail "\$refs that name no component:"$'\n'"$unresolved"
fi

finish
